#pragma once
// Test support: the part of a doc generated from code, between its markers, so a unit test can
// keep the doc in step with the declarations it is made from.

#include <fstream>
#include <optional>
#include <sstream>
#include <string>

namespace udpsieve::test {

/// The text of `path` (relative to the source tree) between "<!-- BEGIN GENERATED: NAME -->\n"
/// and "<!-- END GENERATED -->", or nullopt when the file or a marker is missing.
inline std::optional<std::string> generated_block(const std::string& path,
                                                  const std::string& name) {
  std::ifstream in(std::string(UDPSIEVE_SOURCE_DIR) + "/" + path);
  if (!in) return std::nullopt;
  std::ostringstream contents;
  contents << in.rdbuf();
  const std::string docs = contents.str();
  const std::string begin = "<!-- BEGIN GENERATED: " + name + " -->\n";
  const std::size_t from = docs.find(begin);
  const std::size_t to = docs.find("<!-- END GENERATED -->");
  if (from == std::string::npos || to == std::string::npos || to < from) return std::nullopt;
  return docs.substr(from + begin.size(), to - from - begin.size());
}

}  // namespace udpsieve::test
