/*
 * fedmarl-ns3: a scenario's array table. One entry per shared-memory array (name, dtype, shape
 * in dim symbols, direction, doc) bound to a std::span member of the scenario's view struct V.
 * The binary binds its segment from this table and prints it in --contract-json; Python builds
 * the segment from what it prints. Nothing else lists the arrays.
 * SPDX-License-Identifier: GPL-2.0-only
 */

#ifndef FEDMARL_SCENARIO_ARRAYS_H
#define FEDMARL_SCENARIO_ARRAYS_H

#include "scenario-json.h"

#include "fedmarl/shm_layout.h"

#include <concepts>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <span>
#include <stdexcept>
#include <string>
#include <vector>

namespace ns3
{
namespace fedmarl
{

/// The segment layout (pybridge/native/include/fedmarl/shm_layout.h), a namespace outside ns3.
namespace shm = ::fedmarl::shm;

/// The values of the dim symbols ("N" -> 20), computed from the parameters.
using Dims = std::map<std::string, uint64_t>;

/// One axis of an array's shape: a fixed size or a dim symbol.
class ShapeDim
{
  public:
    /// @param size a fixed size
    template <std::integral I>
    ShapeDim(I size) // NOLINT: implicit, so that shapes read {"N", 2}
        : m_size(static_cast<uint64_t>(size))
    {
    }

    /// @param symbol a dim symbol ("N")
    ShapeDim(const char* symbol) // NOLINT: implicit, as above
        : m_symbol(symbol)
    {
    }

    /// @return the symbol, empty for a fixed size
    const std::string& Symbol() const
    {
        return m_symbol;
    }

    /// @param dims the symbols' values @return the size; throws std::out_of_range naming an
    ///        unknown symbol
    uint64_t Size(const Dims& dims) const;

    /// @return the axis as JSON: the size, or the symbol as a string
    std::string Json() const;

  private:
    std::string m_symbol; //!< dim symbol, or empty
    uint64_t m_size{0};   //!< fixed size when m_symbol is empty
};

/// Whether Python writes the array (in) or the scenario does (out).
enum class ArrayDirection
{
    kIn,
    kOut,
};

/// What --contract-json says about one array.
struct ArrayInfo
{
    std::string name;             //!< segment array name
    shm::DType dtype;             //!< element type
    std::vector<ShapeDim> shape;  //!< axes; the element count is their product
    ArrayDirection direction;     //!< who writes it
    std::string doc;              //!< what it holds, with units

    /// @param dims the symbols' values @return the element count
    uint64_t Count(const Dims& dims) const;
    /// @return this array's object in --contract-json
    std::string ContractJson() const;
};

/**
 * @brief The arrays of a scenario, declared once, each bound to a std::span member of V.
 *
 * Bind() points every member of a V at the segment's array of the same name, checking dtype
 * and element count (a missing or mismatched array throws shm::LayoutError); ArrayStore<V>
 * points them at owned buffers instead (in-process tests).
 */
template <class V>
class ArrayTable
{
  public:
    /// One array: its description and how to point its member at memory.
    struct Entry
    {
        ArrayInfo info;                                             //!< description
        std::function<void(V&, shm::Header*, uint64_t)> fromSegment; //!< bind to the segment
        std::function<void(V&, std::byte*, uint64_t)> fromBuffer;    //!< bind to a buffer
    };

    /**
     * Declare an array.
     * @param name segment array name (at most shm::kNameSize - 1 characters)
     * @param member the span of V that views it; its element type gives the dtype
     * @param shape the axes
     * @param direction who writes it
     * @param doc what it holds
     * @return this table
     */
    template <class T>
    ArrayTable& Add(std::string name,
                    std::span<T> V::*member,
                    std::vector<ShapeDim> shape,
                    ArrayDirection direction,
                    std::string doc)
    {
        if (name.empty() || name.size() >= shm::kNameSize)
        {
            throw std::logic_error("array name '" + name + "' does not fit the segment table");
        }
        for (const auto& e : m_entries)
        {
            if (e.info.name == name)
            {
                throw std::logic_error("array " + name + " declared twice");
            }
        }
        if (m_entries.size() >= shm::kMaxArrays)
        {
            throw std::logic_error("more arrays than the segment table holds (" +
                                   std::to_string(shm::kMaxArrays) + ")");
        }
        Entry e;
        e.info = {name, shm::DTypeOf<T>(), std::move(shape), direction, std::move(doc)};
        e.fromSegment = [member, name](V& v, shm::Header* h, uint64_t count) {
            v.*member = std::span<T>(shm::Array<T>(h, name.c_str(), count), count);
        };
        e.fromBuffer = [member](V& v, std::byte* data, uint64_t count) {
            v.*member = std::span<T>(reinterpret_cast<T*>(data), count);
        };
        m_entries.push_back(std::move(e));
        return *this;
    }

    /// @return every array, in declaration order
    const std::vector<Entry>& Entries() const
    {
        return m_entries;
    }

    /**
     * @param h the segment
     * @param dims the symbols' values
     * @return views of every array of the segment
     * @throws shm::LayoutError for a missing array or a wrong dtype or count
     */
    V Bind(shm::Header* h, const Dims& dims) const
    {
        V v{};
        for (const auto& e : m_entries)
        {
            e.fromSegment(v, h, e.info.Count(dims));
        }
        return v;
    }

    /// @return the JSON array of array objects of --contract-json
    std::string ContractJson() const
    {
        std::vector<std::string> items;
        for (const auto& e : m_entries)
        {
            items.push_back(e.info.ContractJson());
        }
        return JsonArray(items);
    }

  private:
    std::vector<Entry> m_entries; //!< the arrays, in order
};

/**
 * @brief Owned arrays of a table's sizes, for running a scenario without a segment (tests):
 *        a V whose spans view zero-initialised buffers.
 */
template <class V>
class ArrayStore : public V
{
  public:
    /// @param table the arrays @param dims the symbols' values
    ArrayStore(const ArrayTable<V>& table, const Dims& dims)
        : V{}
    {
        for (const auto& e : table.Entries())
        {
            const uint64_t count = e.info.Count(dims);
            // Allocated as doubles: aligned for every dtype.
            const uint64_t bytes = count * shm::DTypeSize(static_cast<uint32_t>(e.info.dtype));
            auto* raw = new double[(bytes + sizeof(double) - 1) / sizeof(double) + 1]();
            m_buffers.emplace_back(reinterpret_cast<std::byte*>(raw), Deleter{});
            e.fromBuffer(*this, m_buffers.back().get(), count);
        }
    }

    ArrayStore(const ArrayStore&) = delete;
    ArrayStore& operator=(const ArrayStore&) = delete;

    /// @return the views (the V this store is)
    const V& Views() const
    {
        return *this;
    }

  private:
    /// Frees a buffer allocated as doubles.
    struct Deleter
    {
        void operator()(std::byte* p) const
        {
            delete[] reinterpret_cast<double*>(p);
        }
    };

    std::vector<std::unique_ptr<std::byte[], Deleter>> m_buffers; //!< one per array
};

/// @return the dtype's name in the contract (f32, f64, i32, u8)
const char* ContractDTypeName(shm::DType dtype);

} // namespace fedmarl
} // namespace ns3

#endif // FEDMARL_SCENARIO_ARRAYS_H
