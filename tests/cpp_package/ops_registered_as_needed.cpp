// Linked with -Wl,--as-needed and calling nothing of the op library: the
// operators must still be registered, because qmoe/ops.h makes every includer
// reference the library's anchor symbol. Exit status 0 when qmoe::expval is found.
#include <ATen/core/dispatch/Dispatcher.h>

#include <cstdio>

#include "qmoe/ops.h"

int main() {
  const auto schema = c10::Dispatcher::singleton().findSchema({"qmoe::expval", ""});
  std::printf("qmoe::expval %s\n", schema.has_value() ? "registered" : "not registered");
  return schema.has_value() ? 0 : 1;
}
