#include "data/files.h"

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <fstream>
#include <iterator>

#include "tensor/error.h"

namespace sm {

namespace fs = std::filesystem;

std::vector<uint8_t> read_file(const std::string& path, const std::string& op) {
  std::ifstream in(path, std::ios::binary);
  check(in.good() && !is_folder(path), op, "cannot open ", path);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

bool is_folder(const std::string& path) {
  std::error_code error;
  return fs::is_directory(path, error);
}

bool path_exists(const std::string& path) {
  std::error_code error;
  return fs::exists(path, error);
}

bool is_frame_file(const std::string& file_name) {
  if (file_name.empty() || file_name[0] == '.') return false;
  std::string extension = fs::path(file_name).extension().string();
  std::transform(extension.begin(), extension.end(), extension.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return extension == ".jpg" || extension == ".jpeg" || extension == ".png";
}

// The names of the entries of `folder` that `keep` accepts, sorted.
template <typename Keep>
static std::vector<std::string> list_sorted(const std::string& folder, Keep keep) {
  std::vector<std::string> names;
  try {
    for (const fs::directory_entry& entry : fs::directory_iterator(folder)) {
      const std::string name = entry.path().filename().string();
      if (keep(entry, name)) names.push_back(name);
    }
  } catch (const fs::filesystem_error& e) {
    fail("files", "cannot list ", folder, ": ", e.code().message());
  }
  std::sort(names.begin(), names.end());
  return names;
}

std::vector<std::string> list_frame_files(const std::string& folder) {
  return list_sorted(folder, [](const fs::directory_entry& e, const std::string& name) {
    return is_frame_file(name) && e.is_regular_file();
  });
}

std::vector<std::string> list_subfolders(const std::string& folder) {
  return list_sorted(
      folder, [](const fs::directory_entry& e, const std::string& name) { return name[0] != '.' && e.is_directory(); });
}

std::string file_stem(const std::string& path) { return fs::path(path).stem().string(); }

}  // namespace sm
