// The text of backends/spinnaker/run_template.py, embedded at build time (run_template.cmake). The template
// is a runnable Python file: its `STEPS = ...` and `NEURONS_PER_CORE = ...` lines hold defaults that run_py()
// (project_files.h) replaces with the export's values.
#pragma once
#include <string_view>

namespace sf::spinnaker {

std::string_view run_template();

}  // namespace sf::spinnaker
