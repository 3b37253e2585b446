// The per-tree directory state: names in one arena, compacted when half of
// it is garbage.
#include "scanner_internal.h"

namespace netipc::cgroups_provider::detail {

uint32_t NameArena::add(std::string_view name) {
  const auto off = static_cast<uint32_t>(text_.size());
  text_.append(name);
  text_.push_back('\0');
  return off;
}

void Tree::release(const DirNode& n, bool self) {
  if (self) names.release(n.name_len);
  for (const DirNode& c : n.children)
    release(c, true);
}

namespace {

void copy_names(DirNode* n, const NameArena& from, NameArena* to) {
  for (DirNode& c : n->children) {
    c.name_off = to->add(from.get(c.name_off, c.name_len));
    copy_names(&c, from, to);
  }
}

}  // namespace

void Tree::compact() {
  NameArena next;
  next.reserve(names.live_bytes() + names.live_bytes() / 4);
  copy_names(&root, names, &next);  // the root (the base) has no name
  names.swap(&next);
}

}  // namespace netipc::cgroups_provider::detail
