// File utilities shared by data/: whole-file reads, crash-safe writes, frame listings.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace sm {

// The bytes of `path`; throws "[op] cannot open <path>" when it is missing or unreadable.
std::vector<uint8_t> read_file(const std::string& path, const std::string& op);

// Writes "<path>.tmp" and renames it over `path`, so a crash never leaves half a file.
// Creates the parent folder when missing.
void write_file_atomically(const std::string& path, const std::vector<uint8_t>& bytes, const std::string& op);

// True for the frame files we read: .jpg, .jpeg and .png (any letter case), not hidden.
bool is_frame_file(const std::string& file_name);

// The names (not paths) of the frame files in `folder`, in name order.
std::vector<std::string> list_frame_files(const std::string& folder);

// The names of the sub-folders of `folder`, in name order (hidden ones skipped).
std::vector<std::string> list_subfolders(const std::string& folder);

// "a/b/00012.png" -> "00012".
std::string file_stem(const std::string& path);

}  // namespace sm
