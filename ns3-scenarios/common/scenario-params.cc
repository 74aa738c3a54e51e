/*
 * fedmarl-ns3: parsing, checking and printing of scenario parameters.
 * SPDX-License-Identifier: GPL-2.0-only
 *
 * Parsing follows pybridge/config.py so that a value the dataclass accepts is accepted here and
 * one it refuses is refused: integers may be written as floats without a fractional part
 * ("1e3"), ranges are closed unless low_open, None selects a derived default.
 */

#include "scenario-params.h"

#include <cerrno>
#include <cmath>
#include <cstdlib>

namespace ns3
{
namespace fedmarl
{

namespace
{

/// Parse a whole string as a double; false if anything is left over or it is empty.
bool
ParseDouble(const std::string& text, double& out)
{
    if (text.empty())
    {
        return false;
    }
    char* end = nullptr;
    out = std::strtod(text.c_str(), &end);
    return end && *end == '\0';
}

/// Parse an integer as pybridge/config.py coerces one: exact integers, or floats without a
/// fractional part ("1e3", "20.0").
bool
ParseInteger(const std::string& text, int64_t& out)
{
    if (text.empty())
    {
        return false;
    }
    char* end = nullptr;
    errno = 0;
    const long long v = std::strtoll(text.c_str(), &end, 10);
    if (end && *end == '\0' && errno == 0)
    {
        out = v;
        return true;
    }
    double d = 0.0;
    // 9.2e18: below 2^63, so the conversion cannot overflow.
    if (!ParseDouble(text, d) || !std::isfinite(d) || d != std::floor(d) ||
        std::fabs(d) >= 9.2e18)
    {
        return false;
    }
    out = static_cast<int64_t>(d);
    return true;
}

/// " unit", or "" without one.
std::string
UnitSuffix(const ParamDoc& d)
{
    return d.unit.empty() ? "" : " " + d.unit;
}

/// "[low, high]" or "(low, high]" as Python's "{:g}" prints the bounds.
std::string
Interval(const ParamInfo& p)
{
    return std::string(p.lowOpen ? "(" : "[") + FormatG(p.low) + ", " + FormatG(p.high) + "]";
}

std::string
Join(const std::vector<std::string>& items, const std::string& sep)
{
    std::string out;
    for (size_t i = 0; i < items.size(); ++i)
    {
        out += (i ? sep : "") + items[i];
    }
    return out;
}

} // namespace

const char*
ParamTypeName(ParamType type)
{
    switch (type)
    {
    case ParamType::kInt:
        return "int";
    case ParamType::kFloat:
        return "float";
    case ParamType::kStr:
        return "str";
    }
    return "?";
}

bool
IsNoneText(const std::string& text)
{
    return text == "None" || text == "none" || text == "null";
}

std::string
ParamInfo::RangeText() const
{
    std::string out;
    if (hasChoices)
    {
        out = Join(choices, " | ");
    }
    if (hasRange)
    {
        out += (out.empty() ? "" : " | ") + Interval(*this);
    }
    if (noneAllowed)
    {
        out += " or None";
    }
    return out;
}

std::string
ParamInfo::ContractJson(const std::string& defaultJson) const
{
    std::string out = "{\"name\": " + JsonString(name) + ", \"type\": " +
                      JsonString(ParamTypeName(type)) + ", \"default\": " + defaultJson;
    out += ", \"low\": " + (hasRange ? lowJson : std::string("null"));
    out += ", \"high\": " + (hasRange ? highJson : std::string("null"));
    out += std::string(", \"low_open\": ") + (lowOpen ? "true" : "false");
    out += ", \"choices\": " + (hasChoices ? JsonStringArray(choices) : std::string("null"));
    out += ", \"unit\": " + JsonString(doc.unit) + ", \"doc\": " + JsonString(doc.doc) +
           ", \"source\": " + JsonString(doc.source) + "}";
    return out;
}

std::string
ParamInfo::HelpLine(const std::string& defaultJson) const
{
    std::string def = defaultJson;
    if (def.size() > 1 && def.front() == '"')
    {
        def = def.substr(1, def.size() - 2);
    }
    if (def == "null")
    {
        def = "None";
    }
    std::string flag = "  --" + name + "=" + def;
    if (flag.size() < 38)
    {
        flag.resize(38, ' ');
    }
    return flag + " " + doc.doc + "; valid: " + RangeText() + UnitSuffix(doc) + "\n";
}

int64_t
ParamInfo::ParseInt(const std::string& text) const
{
    int64_t x = 0;
    if (!ParseInteger(text, x))
    {
        const std::string words = hasChoices ? Join(choices, " or ") + " or " : "";
        throw ParamError("--" + name + "=" + text + " must be " + words + "an integer in " +
                         Interval(*this));
    }
    if (x < lowInt || x > highInt)
    {
        throw ParamError("--" + name + "=" + text + " is out of range " + Interval(*this) +
                         UnitSuffix(doc));
    }
    return x;
}

double
ParamInfo::ParseFloat(const std::string& text) const
{
    double x = 0.0;
    if (!ParseDouble(text, x))
    {
        throw ParamError("--" + name + "=" + text + " must be a number in " + Interval(*this) +
                         UnitSuffix(doc) +
                         (noneAllowed ? ", or None for the derived default" : ""));
    }
    if (std::isnan(x))
    {
        throw ParamError("--" + name + "=" + text + " is NaN; valid range " + Interval(*this) +
                         UnitSuffix(doc));
    }
    const bool tooLow = lowOpen ? x <= low : x < low;
    if (tooLow || x > high)
    {
        throw ParamError("--" + name + "=" + text + " is out of range " + Interval(*this) +
                         UnitSuffix(doc));
    }
    return x;
}

std::string
ParamInfo::ParseChoice(const std::string& text) const
{
    for (const auto& c : choices)
    {
        if (text == c)
        {
            return text;
        }
    }
    throw ParamError("--" + name + "=" + text + " must be one of " + Join(choices, ", "));
}

std::pair<std::string, std::optional<std::string>>
SplitParamFlag(const std::string& flag)
{
    if (flag.rfind("--", 0) != 0)
    {
        throw ParamError("unexpected argument '" + flag + "' (flags are --name=value)");
    }
    const auto eq = flag.find('=');
    if (eq == std::string::npos)
    {
        return {flag.substr(2), std::nullopt};
    }
    return {flag.substr(2, eq - 2), flag.substr(eq + 1)};
}

ParamInfo
MakeIntParamInfo(std::string name, int64_t low, int64_t high, ParamDoc d)
{
    ParamInfo info;
    info.name = std::move(name);
    info.type = ParamType::kInt;
    info.hasRange = true;
    info.lowInt = low;
    info.highInt = high;
    info.low = static_cast<double>(low);
    info.high = static_cast<double>(high);
    info.lowJson = JsonInt(low);
    info.highJson = JsonInt(high);
    info.doc = std::move(d);
    return info;
}

ParamInfo
MakeFloatParamInfo(std::string name, double low, double high, bool lowOpen, ParamDoc d)
{
    ParamInfo info;
    info.name = std::move(name);
    info.type = ParamType::kFloat;
    info.hasRange = true;
    info.low = low;
    info.high = high;
    info.lowJson = JsonDouble(low);
    info.highJson = JsonDouble(high);
    info.lowOpen = lowOpen;
    info.doc = std::move(d);
    return info;
}

} // namespace fedmarl
} // namespace ns3
