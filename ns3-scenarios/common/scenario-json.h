/*
 * fedmarl-ns3: the few JSON spellings a scenario binary prints (--contract-json,
 * --params-json). Writing only, no parser: the binaries never read JSON.
 * SPDX-License-Identifier: GPL-2.0-only
 */

#ifndef FEDMARL_SCENARIO_JSON_H
#define FEDMARL_SCENARIO_JSON_H

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace ns3
{
namespace fedmarl
{

/// @return `s` as a JSON string literal (quotes, backslashes and control characters escaped)
std::string JsonString(std::string_view s);

/// @return the shortest text that reads back as `x`, always recognisable as a float ("3.0",
///         "1e-05"), so Python's json gives a float where the dataclass has one
std::string JsonDouble(double x);

/// @return `x` as a JSON integer
std::string JsonInt(int64_t x);

/// @return a JSON array of the given JSON values
std::string JsonArray(const std::vector<std::string>& items);

/// @return a JSON array of string literals
std::string JsonStringArray(const std::vector<std::string>& items);

/// Python's "{x:g}": how ranges read in help texts and error messages.
std::string FormatG(double x);

} // namespace fedmarl
} // namespace ns3

#endif // FEDMARL_SCENARIO_JSON_H
