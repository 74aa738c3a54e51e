/*
 * fedmarl-ns3: a scenario's parameter table. One entry per parameter (name, type, default,
 * range or choices, unit, doc, source) that the binary parses its --name=value flags with and
 * prints in --contract-json, so the Python side can check its config dataclass against it
 * field by field (pybridge/contract.py).
 * SPDX-License-Identifier: GPL-2.0-only
 */

#ifndef FEDMARL_SCENARIO_PARAMS_H
#define FEDMARL_SCENARIO_PARAMS_H

#include "scenario-json.h"

#include <cstdint>
#include <functional>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

namespace ns3
{
namespace fedmarl
{

/// A parameter could not be set: unknown, malformed or out of range. what() is one line that
/// names the flag.
class ParamError : public std::invalid_argument
{
  public:
    using std::invalid_argument::invalid_argument;
};

/// The type of a parameter, as the Python dataclass annotates its field.
enum class ParamType
{
    kInt,
    kFloat,
    kStr,
};

/// @return "int", "float" or "str"
const char* ParamTypeName(ParamType type);

/// The documentation of a parameter: the dataclass field's metadata.
struct ParamDoc
{
    std::string doc;             //!< one-line description (the field's `doc`)
    std::string unit;            //!< unit, "" if none
    std::string source{"ours"};  //!< where the default comes from (the field's `source`)
};

/**
 * What --contract-json says about one parameter, and what parsing checks. Numbers of the range
 * are kept as their JSON text too, so integers stay exact (seed's high is 2^63 - 1).
 */
struct ParamInfo
{
    std::string name;                  //!< flag and dataclass field name
    ParamType type{ParamType::kFloat}; //!< value type
    bool hasRange{false};              //!< low and high apply
    double low{0.0};                   //!< lower bound
    double high{0.0};                  //!< upper bound
    std::string lowJson;               //!< low as JSON ("1", "0.0")
    std::string highJson;              //!< high as JSON
    int64_t lowInt{0};                 //!< low of an integer parameter, exact
    int64_t highInt{0};                //!< high of an integer parameter, exact
    bool lowOpen{false};               //!< (low, high] instead of [low, high]
    bool hasChoices{false};            //!< choices apply (JSON null otherwise)
    std::vector<std::string> choices;  //!< allowed words (also beside a range: hall_tiles)
    bool noneAllowed{false};           //!< None selects the derived default
    ParamDoc doc;                      //!< documentation

    /// @return the valid values as the dataclass's describe() prints them ("[1, 20000]",
    ///         "(0, 0.5]", "sparse | dense", "auto | [1, 64]", "[0.5, 30] or None")
    std::string RangeText() const;
    /// @param defaultJson the default value as JSON
    /// @return this parameter's object in --contract-json
    std::string ContractJson(const std::string& defaultJson) const;
    /// @param defaultJson the default value as JSON
    /// @return this parameter's line in --help
    std::string HelpLine(const std::string& defaultJson) const;

    /// @return `text` parsed as this integer parameter; throws ParamError naming the flag
    int64_t ParseInt(const std::string& text) const;
    /// @return `text` parsed as this float parameter; throws ParamError naming the flag
    double ParseFloat(const std::string& text) const;
    /// @return `text` if it is one of the choices; throws ParamError naming the flag
    std::string ParseChoice(const std::string& text) const;
};

/// @return true for the spellings of Python's None on a command line: None, none, null
bool IsNoneText(const std::string& text);

/**
 * @brief The parameters of a scenario (struct P), declared once.
 *
 * Each entry knows how to parse its flag into a P and how to print a P's value as JSON. The
 * binary parses its flags with Parse(), prints ContractJson() / DefaultsJson() / Help(), and
 * nothing else lists the parameters.
 */
template <class P>
class ParamTable
{
  public:
    /// One parameter: its description, its parser and its printer.
    struct Entry
    {
        ParamInfo info;                                          //!< description
        std::function<void(P&, const std::string&)> set;         //!< parse, check, store
        std::function<std::string(const P&)> json;               //!< the value as JSON
    };

    /// An integer parameter in [low, high].
    ParamTable& Int(std::string name, int64_t P::*member, int64_t low, int64_t high, ParamDoc d)
    {
        ParamInfo info = IntInfo(std::move(name), low, high, std::move(d));
        return Add(info,
                   [member, info](P& p, const std::string& v) { p.*member = info.ParseInt(v); },
                   [member](const P& p) { return JsonInt(p.*member); });
    }

    /// An integer parameter in [low, high] that also takes the word `word` (stored as
    /// std::nullopt; its default when the member starts empty): hall_tiles = "auto".
    ParamTable& IntOrWord(std::string name,
                          std::optional<int64_t> P::*member,
                          int64_t low,
                          int64_t high,
                          std::string word,
                          ParamDoc d)
    {
        ParamInfo info = IntInfo(std::move(name), low, high, std::move(d));
        info.hasChoices = true;
        info.choices = {word};
        return Add(
            info,
            [member, info, word](P& p, const std::string& v) {
                if (v == word)
                {
                    p.*member = std::nullopt;
                    return;
                }
                p.*member = info.ParseInt(v);
            },
            [member, word](const P& p) {
                return (p.*member) ? JsonInt(*(p.*member)) : JsonString(word);
            });
    }

    /// A float parameter in [low, high], or (low, high] when lowOpen.
    ParamTable& Float(std::string name,
                      double P::*member,
                      double low,
                      double high,
                      bool lowOpen,
                      ParamDoc d)
    {
        ParamInfo info = FloatInfo(std::move(name), low, high, lowOpen, std::move(d));
        return Add(info,
                   [member, info](P& p, const std::string& v) { p.*member = info.ParseFloat(v); },
                   [member](const P& p) { return JsonDouble(p.*member); });
    }

    /// A float parameter whose default, None (std::nullopt), is derived from other parameters.
    ParamTable& OptionalFloat(std::string name,
                              std::optional<double> P::*member,
                              double low,
                              double high,
                              bool lowOpen,
                              ParamDoc d)
    {
        ParamInfo info = FloatInfo(std::move(name), low, high, lowOpen, std::move(d));
        return AddOptional(
            std::move(info),
            member,
            [](const ParamInfo& i, const std::string& v) { return i.ParseFloat(v); },
            [](double x) { return JsonDouble(x); });
    }

    /// An integer parameter whose default, None (std::nullopt), means "the scenario's own
    /// default" (seed: Python draws fresh entropy for the run numbers instead).
    ParamTable& OptionalInt(std::string name,
                            std::optional<int64_t> P::*member,
                            int64_t low,
                            int64_t high,
                            ParamDoc d)
    {
        ParamInfo info = IntInfo(std::move(name), low, high, std::move(d));
        return AddOptional(
            std::move(info),
            member,
            [](const ParamInfo& i, const std::string& v) { return i.ParseInt(v); },
            [](int64_t x) { return JsonInt(x); });
    }

    /// The None-or-value mechanism both optional kinds share: "None"/"none"/"null" selects
    /// std::nullopt (the scenario's own default), anything else is parsed and range-checked.
    template <typename T, typename Parse, typename Json>
    ParamTable& AddOptional(ParamInfo info, std::optional<T> P::*member, Parse parse, Json json)
    {
        info.noneAllowed = true;
        return Add(
            info,
            [member, info, parse](P& p, const std::string& v) {
                if (IsNoneText(v))
                {
                    p.*member = std::nullopt;
                    return;
                }
                p.*member = parse(info, v);
            },
            [member, json](const P& p) {
                return (p.*member) ? json(*(p.*member)) : std::string("null");
            });
    }

    /// A string parameter with a fixed set of values.
    ParamTable& Choice(std::string name,
                       std::string P::*member,
                       std::vector<std::string> choices,
                       ParamDoc d)
    {
        ParamInfo info;
        info.name = std::move(name);
        info.type = ParamType::kStr;
        info.hasChoices = true;
        info.choices = std::move(choices);
        info.doc = std::move(d);
        return Add(info,
                   [member, info](P& p, const std::string& v) { p.*member = info.ParseChoice(v); },
                   [member](const P& p) { return JsonString(p.*member); });
    }

    /// @return every parameter, in declaration order
    const std::vector<Entry>& Entries() const
    {
        return m_entries;
    }

    /// @return the parameter called `name`, or nullptr
    const Entry* Find(const std::string& name) const
    {
        for (const auto& e : m_entries)
        {
            if (e.info.name == name)
            {
                return &e;
            }
        }
        return nullptr;
    }

    /**
     * Set parameters from flags of the form --name=value.
     * @param flags the flags
     * @param p the parameters to update
     * @throws ParamError for an unknown flag or a bad value (one line naming the flag)
     */
    void Parse(const std::vector<std::string>& flags, P& p) const
    {
        for (const auto& flag : flags)
        {
            const auto [name, value] = SplitFlag(flag);
            const Entry* e = Find(name);
            if (!e)
            {
                throw ParamError("unknown flag --" + name + " (run --help for the list of flags)");
            }
            if (!value)
            {
                throw ParamError("--" + name + " needs a value: --" + name + "=<" +
                                 e->info.RangeText() + ">");
            }
            e->set(p, *value);
        }
    }

    /// @param p the values to print (usually P{}: the defaults)
    /// @return the JSON array of parameter objects of --contract-json
    std::string ContractJson(const P& p = P{}) const
    {
        std::vector<std::string> items;
        for (const auto& e : m_entries)
        {
            items.push_back(e.info.ContractJson(e.json(p)));
        }
        return JsonArray(items);
    }

    /// @param p the values to print @return {name: value} of every parameter (--params-json)
    std::string DefaultsJson(const P& p = P{}) const
    {
        std::string out = "{";
        for (size_t i = 0; i < m_entries.size(); ++i)
        {
            out += (i ? ", " : "") + JsonString(m_entries[i].info.name) + ": " +
                   m_entries[i].json(p);
        }
        return out + "}";
    }

    /// @return one help line per parameter with its default, range and unit
    std::string Help(const P& p = P{}) const
    {
        std::string out;
        for (const auto& e : m_entries)
        {
            out += e.info.HelpLine(e.json(p));
        }
        return out;
    }

    /**
     * Split "--name=value" into its name and value (none without '=').
     * @param flag the flag
     * @return name and value
     * @throws ParamError when `flag` does not start with "--"
     */
    static std::pair<std::string, std::optional<std::string>> SplitFlag(const std::string& flag);

  private:
    static ParamInfo IntInfo(std::string name, int64_t low, int64_t high, ParamDoc d);
    static ParamInfo FloatInfo(std::string name, double low, double high, bool lowOpen, ParamDoc d);

    ParamTable& Add(ParamInfo info,
                    std::function<void(P&, const std::string&)> set,
                    std::function<std::string(const P&)> json)
    {
        if (Find(info.name))
        {
            throw std::logic_error("parameter " + info.name + " declared twice");
        }
        m_entries.push_back({std::move(info), std::move(set), std::move(json)});
        return *this;
    }

    std::vector<Entry> m_entries; //!< the parameters, in order
};

/// Non-template parts of ParamTable (in scenario-params.cc).
std::pair<std::string, std::optional<std::string>> SplitParamFlag(const std::string& flag);
ParamInfo MakeIntParamInfo(std::string name, int64_t low, int64_t high, ParamDoc d);
ParamInfo MakeFloatParamInfo(std::string name, double low, double high, bool lowOpen, ParamDoc d);

template <class P>
std::pair<std::string, std::optional<std::string>>
ParamTable<P>::SplitFlag(const std::string& flag)
{
    return SplitParamFlag(flag);
}

template <class P>
ParamInfo
ParamTable<P>::IntInfo(std::string name, int64_t low, int64_t high, ParamDoc d)
{
    return MakeIntParamInfo(std::move(name), low, high, std::move(d));
}

template <class P>
ParamInfo
ParamTable<P>::FloatInfo(std::string name, double low, double high, bool lowOpen, ParamDoc d)
{
    return MakeFloatParamInfo(std::move(name), low, high, lowOpen, std::move(d));
}

} // namespace fedmarl
} // namespace ns3

#endif // FEDMARL_SCENARIO_PARAMS_H
