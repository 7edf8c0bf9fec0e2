// The layering rule, checked on the sources: each folder includes only itself and the folders below it
// (core <- ops <- {optim, datasets, models} <- train <- interchange <- backends <- apps). CMake links the libraries the
// same way, but static libraries resolve symbols only when the binary links, so an upward include would otherwise go
// unnoticed until someone tried to use a lower library on its own.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <regex>
#include <set>
#include <string>

namespace {

namespace fs = std::filesystem;

const std::map<std::string, std::set<std::string>>& allowed() {
  static const std::map<std::string, std::set<std::string>> table = {
      {"core", {"core"}},
      {"ops", {"core", "ops"}},
      {"optim", {"core", "optim"}},
      {"datasets", {"core", "datasets"}},
      {"models", {"core", "ops", "models"}},
      {"train", {"core", "ops", "optim", "datasets", "models", "train"}},
      {"interchange", {"core", "ops", "optim", "datasets", "models", "train", "interchange"}},
      {"backends", {"core", "ops", "optim", "datasets", "models", "train", "interchange", "backends"}},
      {"apps", {"core", "ops", "optim", "datasets", "models", "train", "interchange", "backends", "apps"}},
  };
  return table;
}

// "file:line: includes X/..." for every project include outside the folder's allowed set.
std::string violations(const fs::path& root, const std::string& folder) {
  const std::regex include_re(R"(^\s*#\s*include\s*"([a-z_]+)/)");
  const auto& ok = allowed().at(folder);
  std::string out;
  for (const auto& entry : fs::recursive_directory_iterator(root / folder)) {
    const auto ext = entry.path().extension();
    if (!entry.is_regular_file() || (ext != ".h" && ext != ".cpp" && ext != ".cu" && ext != ".cuh")) continue;
    std::ifstream in(entry.path());
    std::string line;
    for (int n = 1; std::getline(in, line); ++n) {
      std::smatch m;
      if (!std::regex_search(line, m, include_re)) continue;
      const std::string target = m[1];
      // Only project folders are layered; anything else ("nlohmann/", "CLI/", "oneapi/") is a library.
      if (!allowed().count(target) && target != "experiments" && target != "tests") continue;
      if (!ok.count(target))
        out += fs::relative(entry.path(), root).string() + ":" + std::to_string(n) + ": includes " + target + "/\n";
    }
  }
  return out;
}

TEST(Layering, EveryFolderIncludesOnlyTheLayersBelowIt) {
  const fs::path root = SPIKEFORGE_SOURCE_DIR;
  for (const auto& [folder, _] : allowed()) {
    SCOPED_TRACE(folder);
    ASSERT_TRUE(fs::is_directory(root / folder)) << "missing source folder " << folder;
    EXPECT_EQ(violations(root, folder), "");
  }
}

TEST(Layering, TheTrainingLibraryIsNotInTheUsersExperimentFolder) {
  // experiments/ holds the YAML files users edit; C++ there would sit outside the layer table above.
  const fs::path dir = fs::path(SPIKEFORGE_SOURCE_DIR) / "experiments";
  for (const auto& entry : fs::directory_iterator(dir)) {
    const auto ext = entry.path().extension();
    EXPECT_TRUE(ext != ".h" && ext != ".cpp") << entry.path() << " belongs in train/";
  }
}

}  // namespace
