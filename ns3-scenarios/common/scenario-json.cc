/*
 * fedmarl-ns3: JSON spellings of the scenario binaries.
 * SPDX-License-Identifier: GPL-2.0-only
 */

#include "scenario-json.h"

#include <charconv>
#include <cstdio>

namespace ns3
{
namespace fedmarl
{

std::string
JsonString(std::string_view s)
{
    std::string out = "\"";
    for (const char c : s)
    {
        switch (c)
        {
        case '"':
            out += "\\\"";
            break;
        case '\\':
            out += "\\\\";
            break;
        case '\n':
            out += "\\n";
            break;
        case '\t':
            out += "\\t";
            break;
        default:
            if (static_cast<unsigned char>(c) < 0x20)
            {
                char buf[8];
                std::snprintf(buf, sizeof(buf), "\\u%04x", static_cast<unsigned>(c));
                out += buf;
            }
            else
            {
                out += c;
            }
        }
    }
    return out + "\"";
}

std::string
JsonDouble(double x)
{
    char buf[64];
    auto [end, ec] = std::to_chars(buf, buf + sizeof(buf), x);
    std::string s(buf, end);
    if (s.find_first_of(".en") == std::string::npos)
    {
        s += ".0";
    }
    return s;
}

std::string
JsonInt(int64_t x)
{
    return std::to_string(x);
}

std::string
JsonArray(const std::vector<std::string>& items)
{
    std::string out = "[";
    for (size_t i = 0; i < items.size(); ++i)
    {
        out += (i ? ", " : "") + items[i];
    }
    return out + "]";
}

std::string
JsonStringArray(const std::vector<std::string>& items)
{
    std::vector<std::string> quoted;
    quoted.reserve(items.size());
    for (const auto& s : items)
    {
        quoted.push_back(JsonString(s));
    }
    return JsonArray(quoted);
}

std::string
FormatG(double x)
{
    char buf[32];
    std::snprintf(buf, sizeof(buf), "%g", x);
    return buf;
}

} // namespace fedmarl
} // namespace ns3
