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
  check(in.good() && !fs::is_directory(path), op, "cannot open ", path);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

void write_file_atomically(const std::string& path, const std::vector<uint8_t>& bytes, const std::string& op) {
  const fs::path parent = fs::path(path).parent_path();
  std::error_code ignored;
  if (!parent.empty()) fs::create_directories(parent, ignored);
  const std::string temp = path + ".tmp";
  {
    std::ofstream out(temp, std::ios::binary);
    check(out.good(), op, "cannot write ", temp);
    out.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
    check(out.good(), op, "writing ", temp, " failed (disk full?)");
  }
  std::error_code error;
  fs::rename(temp, path, error);
  check(!error, op, "cannot rename ", temp, " to ", path, ": ", error.message());
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
  for (const fs::directory_entry& entry : fs::directory_iterator(folder)) {
    const std::string name = entry.path().filename().string();
    if (keep(entry, name)) names.push_back(name);
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
