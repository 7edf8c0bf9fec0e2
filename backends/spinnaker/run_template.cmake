# The run.py of a SpiNNaker export ships as backends/spinnaker/run_template.py (a real Python file, linted by
# tests/test_spinnaker.cpp) and is embedded into sf_backends at build time: editing it rebuilds.
# Included from the top-level CMakeLists.txt after sf_backends is defined.
set(SF_RUN_TEMPLATE_PY ${CMAKE_CURRENT_LIST_DIR}/run_template.py)
set(SF_RUN_TEMPLATE_CPP ${CMAKE_BINARY_DIR}/generated/backends/spinnaker/run_template.cpp)
add_custom_command(
  OUTPUT ${SF_RUN_TEMPLATE_CPP}
  COMMAND ${CMAKE_COMMAND} -DINPUT=${SF_RUN_TEMPLATE_PY} -DOUTPUT=${SF_RUN_TEMPLATE_CPP} -DNAME=run_template
          -DNAMESPACE=sf::spinnaker -DHEADER=backends/spinnaker/run_template.h
          -P ${CMAKE_CURRENT_LIST_DIR}/embed_text.cmake
  DEPENDS ${SF_RUN_TEMPLATE_PY} ${CMAKE_CURRENT_LIST_DIR}/embed_text.cmake
  COMMENT "Embedding backends/spinnaker/run_template.py"
  VERBATIM)
target_sources(sf_backends PRIVATE ${SF_RUN_TEMPLATE_CPP})
