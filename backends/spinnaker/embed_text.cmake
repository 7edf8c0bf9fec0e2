# Writes OUTPUT, a C++ source defining `std::string_view <NAME>()` (namespace NAMESPACE) that returns the
# bytes of INPUT. Run at build time by run_template.cmake, so editing INPUT rebuilds.
#   cmake -DINPUT=file -DOUTPUT=file.cpp -DNAME=fn -DNAMESPACE=ns -DHEADER=path/to.h -P embed_text.cmake
foreach(var INPUT OUTPUT NAME NAMESPACE HEADER)
  if(NOT DEFINED ${var})
    message(FATAL_ERROR "embed_text.cmake: -D${var}=... is required")
  endif()
endforeach()
file(READ "${INPUT}" hex HEX)
string(LENGTH "${hex}" digits)
math(EXPR size "${digits} / 2")
string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," bytes "${hex}")
# 20 bytes a line (CMake's regular expressions have no {n}).
set(line "")
foreach(i RANGE 1 20)
  string(APPEND line "0x[0-9a-f][0-9a-f],")
endforeach()
string(REGEX REPLACE "(${line})" "\\1\n    " bytes "${bytes}")
get_filename_component(input_name "${INPUT}" NAME)
file(WRITE "${OUTPUT}"
  "// Generated from ${input_name} by embed_text.cmake; edit that file instead.\n"
  "#include \"${HEADER}\"\n\n"
  "namespace ${NAMESPACE} {\n"
  "namespace {\n"
  "constexpr unsigned char kBytes[] = {\n    ${bytes}0x00};\n"
  "}  // namespace\n\n"
  "std::string_view ${NAME}() { return {reinterpret_cast<const char*>(kBytes), ${size}}; }\n\n"
  "}  // namespace ${NAMESPACE}\n")
