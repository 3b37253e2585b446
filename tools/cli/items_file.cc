#include "items_file.h"

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "netipc/bytes.h"

namespace netipc::cli {

namespace {

using json = nlohmann::json;

std::string at(size_t index, const char* field) {
  return "items[" + std::to_string(index) + "]" + (field[0] != '\0' ? "." : "") + field;
}

bool unsigned_field(const json& v, uint64_t max, uint64_t* out) {
  if (!v.is_number_unsigned()) return false;
  const uint64_t n = v.get<uint64_t>();
  if (n > max) return false;
  *out = n;
  return true;
}

// One item; false with *error set on the first problem.
bool read_item(const json& obj, size_t index, CgroupItem* item, std::string* error) {
  if (!obj.is_object()) {
    *error = at(index, "") + ": expected an object";
    return false;
  }
  bool has_name = false, has_path = false, has_options = false, has_enabled = false;
  bool has_hash = false;
  for (auto it = obj.begin(); it != obj.end(); ++it) {
    const std::string& key = it.key();
    const json& v = it.value();
    uint64_t n = 0;
    if (key == "name" || key == "path") {
      if (!v.is_string()) {
        *error = at(index, key.c_str()) + ": expected a string";
        return false;
      }
      (key == "name" ? item->name : item->path) = v.get<std::string>();
      (key == "name" ? has_name : has_path) = true;
    } else if (key == "options" || key == "hash") {
      if (!unsigned_field(v, UINT32_MAX, &n)) {
        *error = at(index, key.c_str()) + ": expected an unsigned 32-bit integer";
        return false;
      }
      (key == "options" ? item->options : item->hash) = static_cast<uint32_t>(n);
      (key == "options" ? has_options : has_hash) = true;
    } else if (key == "enabled") {
      if (v.is_boolean()) {
        item->enabled = v.get<bool>() ? 1 : 0;
      } else if (unsigned_field(v, UINT32_MAX, &n)) {
        item->enabled = static_cast<uint32_t>(n);
      } else {
        *error = at(index, "enabled") + ": expected an unsigned 32-bit integer or a boolean";
        return false;
      }
      has_enabled = true;
    } else if (key == "cgroup_id") {
      if (!unsigned_field(v, UINT64_MAX, &n)) {
        *error = at(index, "cgroup_id") + ": expected an unsigned 64-bit integer";
        return false;
      }
      item->cgroup_id = n;
    } else {
      *error = at(index, key.c_str()) + ": unknown field (expected name, path, options, " +
               "enabled, hash, cgroup_id)";
      return false;
    }
  }
  const char* missing = !has_name      ? "name"
                        : !has_path    ? "path"
                        : !has_options ? "options"
                        : !has_enabled ? "enabled"
                                       : nullptr;
  if (missing != nullptr) {
    *error = at(index, missing) + ": missing (required)";
    return false;
  }
  if (!has_hash) item->hash = fnv1a32(item->name);
  return true;
}

// "[json.exception.parse_error.101] parse error at line 1, ..." -> the
// part after the bracketed id, on one line.
std::string parse_reason(const char* what) {
  std::string s(what);
  const size_t close = s.find("] ");
  if (s.rfind("[json.exception", 0) == 0 && close != std::string::npos) s.erase(0, close + 2);
  for (char& c : s) {
    if (c == '\n' || c == '\r') c = ' ';
  }
  return s;
}

}  // namespace

bool read_items_file(const std::string& path, std::vector<CgroupItem>* items, std::string* error) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    *error = std::string("cannot open: ") + std::strerror(errno);
    return false;
  }
  std::ostringstream buf;
  buf << in.rdbuf();
  if (in.bad()) {
    *error = std::string("cannot read: ") + std::strerror(errno);
    return false;
  }
  const std::string text = buf.str();
  json doc;
  try {
    doc = json::parse(text);
  } catch (const json::parse_error& e) {
    *error = "invalid JSON at byte " + std::to_string(e.byte) + ": " + parse_reason(e.what());
    return false;
  } catch (const std::exception& e) {
    *error = std::string("invalid JSON: ") + parse_reason(e.what());
    return false;
  }
  if (!doc.is_array()) {
    *error = "expected a JSON array of item objects at the top level";
    return false;
  }
  items->clear();
  items->reserve(doc.size());
  for (size_t i = 0; i < doc.size(); ++i) {
    CgroupItem item;
    if (!read_item(doc[i], i, &item, error)) return false;
    items->push_back(std::move(item));
  }
  return true;
}

}  // namespace netipc::cli
