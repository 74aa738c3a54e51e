/*
 * fedmarl-ns3: a scenario's array table (the non-template parts).
 * SPDX-License-Identifier: GPL-2.0-only
 */

#include "scenario-arrays.h"

namespace ns3
{
namespace fedmarl
{

uint64_t
ShapeDim::Size(const Dims& dims) const
{
    if (m_symbol.empty())
    {
        return m_size;
    }
    const auto it = dims.find(m_symbol);
    if (it == dims.end())
    {
        throw std::out_of_range("dim symbol " + m_symbol + " has no value");
    }
    return it->second;
}

std::string
ShapeDim::Json() const
{
    return m_symbol.empty() ? std::to_string(m_size) : JsonString(m_symbol);
}

uint64_t
ArrayInfo::Count(const Dims& dims) const
{
    uint64_t n = 1;
    for (const auto& d : shape)
    {
        n *= d.Size(dims);
    }
    return n;
}

const char*
ContractDTypeName(shm::DType dtype)
{
    // The bridge's codes and names (FEDMARL_SHM_DTYPES), so Python reads them as it reads the
    // segment's table.
    return shm::DTypeName(static_cast<uint32_t>(dtype));
}

std::string
ArrayInfo::ContractJson() const
{
    std::vector<std::string> axes;
    for (const auto& d : shape)
    {
        axes.push_back(d.Json());
    }
    return "{\"name\": " + JsonString(name) + ", \"dtype\": " +
           JsonString(ContractDTypeName(dtype)) + ", \"shape\": " + JsonArray(axes) +
           ", \"direction\": " +
           JsonString(direction == ArrayDirection::kIn ? "in" : "out") + ", \"doc\": " +
           JsonString(doc) + "}";
}

} // namespace fedmarl
} // namespace ns3
