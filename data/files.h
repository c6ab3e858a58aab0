// File utilities shared by data/: whole-file reads, crash-safe writes, frame listings.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "tensor/atomic_file.h"

namespace sm {

// The bytes of `path`; throws "[op] cannot open <path>" when it is missing or unreadable.
std::vector<uint8_t> read_file(const std::string& path, const std::string& op);

// write_file_atomically: see tensor/atomic_file.h.

// Whether `path` names a folder, or anything at all. False, not an exception, also when the
// path cannot be looked at (a name too long, no permission): callers then say what is missing.
bool is_folder(const std::string& path);
bool path_exists(const std::string& path);

// True for the frame files we read: .jpg, .jpeg and .png (any letter case), not hidden.
bool is_frame_file(const std::string& file_name);

// The names (not paths) of the frame files in `folder`, in name order. A folder that cannot be
// listed throws "[files] cannot list <folder>: <reason>".
std::vector<std::string> list_frame_files(const std::string& folder);

// The names of the sub-folders of `folder`, in name order (hidden ones skipped).
std::vector<std::string> list_subfolders(const std::string& folder);

// "a/b/00012.png" -> "00012".
std::string file_stem(const std::string& path);

}  // namespace sm
