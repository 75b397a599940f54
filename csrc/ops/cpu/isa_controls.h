// The CPU backend's instruction-set controls, as operators (qmoe::set_isa and
// friends): which per-ISA kernels run (core/cpu/isa/kernel_table.h).
#pragma once

#include <c10/util/string_view.h>

#include <string>
#include <vector>

namespace qmoe::ops {

std::string active_isa();
// Throws c10::ValueError for an unknown or unsupported name.
void set_isa(c10::string_view name);
std::vector<std::string> supported_isas();

}  // namespace qmoe::ops
