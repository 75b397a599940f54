// The operator library's one C symbol that qmoe/ops.h references from every
// translation unit including it: a program linking the library then needs it
// even under --as-needed, so the library is loaded and its static
// initialisers register torch.ops.qmoe.* (the linker drops a library none of
// whose symbols is referenced, and the registrations alone reference none).
#include <cstdint>

extern "C" __attribute__((visibility("default"))) int64_t qmoe_ops_library_anchor() {
  // The version of the C++ API in the headers this library was built with.
  return 1;
}
