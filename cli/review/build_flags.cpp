// The build's flags for the reviewers: a compile database
// (compile_commands.json, as CMake and Bear write it) or the tree's own
// header directories (review.hpp, build_flags).
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include "review/review.hpp"

namespace agora::cli::review {

namespace fs = std::filesystem;

const std::vector<std::string>& build_flags::of(const std::string& file) const {
  auto it = per_file.find(file);
  return it == per_file.end() ? common : it->second;
}

std::string build_flags::std_flag(const std::string& file) const {
  for (const auto& a : of(file))
    if (a.rfind("-std=", 0) == 0) return "";
  const auto ext = fs::path(file).extension().string();
  return "-std=" + (ext == ".c" ? c_std : cxx_std);
}

build_flags default_flags(const source_tree& tree) {
  // Every directory of the tree that holds a header, and those above it
  // (for `#include "lib/x.h"`), absolute so any tool's cwd works.
  std::set<std::string> dirs;
  for (const auto& f : tree.files) {
    auto ext = fs::path(f.path).extension().string();
    if (ext != ".h" && ext != ".hpp") continue;
    for (auto p = fs::path(f.path).parent_path(); !p.empty(); p = p.parent_path()) dirs.insert(p.generic_string());
    dirs.insert(".");
  }
  build_flags b;
  for (const auto& d : dirs) b.common.push_back("-I" + (fs::path(tree.root) / d).lexically_normal().string());
  return b;
}

std::vector<std::string> split_command(const std::string& command) {
  std::vector<std::string> out;
  std::string cur;
  bool in_word = false;
  char quote = 0;
  for (std::size_t i = 0; i < command.size(); ++i) {
    const char c = command[i];
    if (quote == '\'') {
      if (c == '\'') quote = 0;
      else cur += c;
    } else if (quote == '"') {
      if (c == '"') quote = 0;
      else if (c == '\\' && i + 1 < command.size() &&
               (command[i + 1] == '"' || command[i + 1] == '\\' || command[i + 1] == '$' || command[i + 1] == '`'))
        cur += command[++i];
      else cur += c;
    } else if (c == '\'' || c == '"') {
      quote = c;
      in_word = true;
    } else if (c == '\\' && i + 1 < command.size()) {
      cur += command[++i];
      in_word = true;
    } else if (c == ' ' || c == '\t' || c == '\n') {
      if (in_word) out.push_back(std::move(cur));
      cur.clear();
      in_word = false;
    } else {
      cur += c;
      in_word = true;
    }
  }
  if (in_word) out.push_back(std::move(cur));
  return out;
}

namespace {

// The arguments of one compile command that matter to a reviewer, with
// paths made absolute against the entry's directory.
std::vector<std::string> keep_flags(const std::vector<std::string>& args, const fs::path& dir) {
  static const std::set<std::string> with_path = {"-I", "-isystem", "-iquote", "-idirafter", "-include",
                                                  "-imacros"};
  static const std::set<std::string> with_value = {"-D", "-U"};
  std::vector<std::string> out;
  auto absolute = [&dir](const std::string& p) {
    return fs::path(p).is_absolute() ? p : (dir / p).lexically_normal().string();
  };
  for (std::size_t i = 1; i < args.size(); ++i) {  // args[0] is the compiler
    const std::string& a = args[i];
    if (a == "-I" && i + 1 < args.size()) {
      out.push_back("-I" + absolute(args[++i]));
    } else if (with_path.count(a) && i + 1 < args.size()) {
      out.push_back(a);
      out.push_back(absolute(args[++i]));
    } else if (with_value.count(a) && i + 1 < args.size()) {
      out.push_back(a + args[++i]);
    } else if (a.rfind("-I", 0) == 0) {
      out.push_back("-I" + absolute(a.substr(2)));
    } else if (a.rfind("-D", 0) == 0 || a.rfind("-U", 0) == 0 || a.rfind("-std=", 0) == 0) {
      out.push_back(a);
    } else if (a.rfind("-isystem", 0) == 0 && a.size() > 8) {
      out.push_back("-isystem");
      out.push_back(absolute(a.substr(8)));
    }
  }
  return out;
}

}  // namespace

bb::result<build_flags> read_compile_database(const std::string& path, const source_tree& tree) {
  std::error_code ec;
  fs::path db = path;
  if (fs::is_directory(db, ec)) db /= "compile_commands.json";
  std::ifstream in(db);
  if (!in) return bb::error{bb::errc::invalid_argument, "cannot read compile database " + db.string()};
  std::stringstream ss;
  ss << in.rdbuf();
  auto j = json::parse(ss.str(), nullptr, false);
  if (j.is_discarded()) return bb::error{bb::errc::invalid_argument, db.string() + ": not JSON"};
  if (!j.is_array())
    return bb::error{bb::errc::invalid_argument, db.string() + ": a compile database is a JSON array of entries"};
  build_flags b = default_flags(tree);
  const fs::path db_dir = fs::absolute(db, ec).parent_path();
  for (std::size_t i = 0; i < j.size(); ++i) {
    const json& e = j[i];
    const std::string where = db.string() + ": entry " + std::to_string(i);
    if (!e.is_object()) return bb::error{bb::errc::invalid_argument, where + " is not an object"};
    if (!e.contains("directory") || !e["directory"].is_string())
      return bb::error{bb::errc::invalid_argument, where + ": \"directory\" must be a string"};
    if (!e.contains("file") || !e["file"].is_string())
      return bb::error{bb::errc::invalid_argument, where + ": \"file\" must be a string"};
    std::vector<std::string> args;
    if (e.contains("arguments")) {
      if (!e["arguments"].is_array())
        return bb::error{bb::errc::invalid_argument, where + ": \"arguments\" must be an array of strings"};
      for (const auto& a : e["arguments"]) {
        if (!a.is_string())
          return bb::error{bb::errc::invalid_argument, where + ": \"arguments\" must be an array of strings"};
        args.push_back(a.get<std::string>());
      }
    } else if (e.contains("command") && e["command"].is_string()) {
      args = split_command(e["command"].get<std::string>());
    } else {
      return bb::error{bb::errc::invalid_argument, where + ": needs \"arguments\" (array) or \"command\" (string)"};
    }
    // A relative directory is relative to the database's own folder.
    fs::path dir = e["directory"].get<std::string>();
    if (dir.is_relative()) dir = db_dir / dir;
    fs::path file = e["file"].get<std::string>();
    if (file.is_relative()) file = dir / file;
    const auto rel = fs::relative(fs::weakly_canonical(file, ec), tree.root, ec).generic_string();
    if (!tree.find(rel)) continue;  // a file outside the reviewed PATH
    b.per_file[rel] = keep_flags(args, dir.lexically_normal());
  }
  for (const auto& f : tree.files) {
    const auto ext = fs::path(f.path).extension().string();
    if (ext != ".h" && ext != ".hpp" && !b.per_file.count(f.path)) b.not_in_database.push_back(f.path);
  }
  return b;
}

}  // namespace agora::cli::review
