// The one JSON format of spikeforge's result files (summary.json, results.json, network.json, resources.json):
// nlohmann::ordered_json, so keys stay in the order they were written, pretty-printed with 2-space indents.
#pragma once
#include <nlohmann/json.hpp>
#include <string>

namespace sf {

using Json = nlohmann::ordered_json;

// Doubles come out as the shortest text that round-trips; NaN/Inf, which JSON cannot hold, as null. Bytes
// that are not UTF-8 (a path in a Latin-1 file system) become U+FFFD instead of throwing.
inline std::string json_text(const Json& j) { return j.dump(2, ' ', false, Json::error_handler_t::replace) + "\n"; }

}  // namespace sf
