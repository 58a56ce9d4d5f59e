// A temporary directory for one test: made unique with mkdtemp under the
// system's temporary directory, removed with everything in it at the end.
#pragma once

#include <stdlib.h>

#include <cerrno>

#include <filesystem>
#include <string>
#include <system_error>

namespace agora::test {

struct temp_dir {
  std::filesystem::path path;
  /// `prefix` names the directory (prefix-XXXXXX) so a leftover is traceable.
  explicit temp_dir(const std::string& prefix = "agora-test") {
    std::string tmpl = (std::filesystem::temp_directory_path() / (prefix + "-XXXXXX")).string();
    if (::mkdtemp(tmpl.data()) == nullptr)
      throw std::system_error(errno, std::generic_category(), "mkdtemp " + tmpl);
    path = std::filesystem::canonical(tmpl);
  }
  ~temp_dir() {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
  }
  temp_dir(const temp_dir&) = delete;
  temp_dir& operator=(const temp_dir&) = delete;
};

}  // namespace agora::test
