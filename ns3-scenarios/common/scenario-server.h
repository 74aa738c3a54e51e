/*
 * fedmarl-ns3: the serve loop every scenario binary shares. A scenario declares its parameter
 * table, its array table and its dims; ScenarioServer parses the command line, prints the
 * contract, attaches to the segment, binds the arrays and answers HELLO / RESET / STEP / CLOSE
 * (protocol: pybridge/native/include/fedmarl/shm_layout.h).
 * SPDX-License-Identifier: GPL-2.0-only
 *
 * Command line of every scenario binary:
 *   <binary> --segment=NAME [--<parameter>=<value> ...] [--spin-us=U] [--crash-at-step=K]
 *            [scenario flags]
 *   <binary> --contract-json | --params-json | --help
 * A bad or unknown flag: one line on stderr, exit status 2. Exit statuses after that: 3 the
 * segment cannot be attached, 4 an array is missing or has the wrong dtype or count (reported
 * through the segment as kArrays), 5 an unknown command, 1 the simulation failed (reported as
 * kSimulation with the message), 0 after CLOSE or when the owner process has gone.
 */

#ifndef FEDMARL_SCENARIO_SERVER_H
#define FEDMARL_SCENARIO_SERVER_H

#include "scenario-arrays.h"
#include "scenario-params.h"

#include "fedmarl/shm_layout.h"

#include <cstdint>
#include <cstdio>
#include <exception>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace ns3
{
namespace fedmarl
{

/// The contract version --contract-json declares (bumped when its schema changes).
inline constexpr int kContractVersion = 1;

/**
 * What a served scenario does on the segment's requests. It is built after its arrays are
 * bound, and reads its inputs from / writes its outputs to those views.
 */
class ServedScenario
{
  public:
    virtual ~ServedScenario() = default;
    /// RESET(run): start an episode with this ns-3 RngRun and write its first outputs.
    virtual void Reset(uint64_t run) = 0;
    /// STEP: read the inputs, simulate one decision interval, write the outputs.
    virtual void Step() = 0;
    /// CLOSE: release the simulation before the process exits.
    virtual void Close()
    {
    }
};

/// A process flag of one scenario beyond its parameters (inx-factory's --trace=FILE).
struct ScenarioFlag
{
    std::string name;                              //!< flag name, without "--"
    std::string help;                              //!< "--name=VALUE  what it does"
    std::function<void(const std::string&)> set;   //!< store the value; throws ParamError
};

/// What identifies a scenario in its contract and messages.
struct ScenarioIdentity
{
    std::string scenario;                                     //!< "inx-factory"
    std::string binary;                                       //!< "fedmarl-inx-factory"
    std::string summary;                                      //!< one line for --help
    std::vector<std::pair<std::string, std::string>> dims;    //!< symbol, meaning
    std::vector<std::pair<std::string, std::string>> constants; //!< name, JSON value
};

/// The process flags every scenario binary takes.
struct ProcessFlags
{
    std::string segment;                            //!< --segment=NAME
    int64_t spinUs{50};                             //!< --spin-us=U
    std::optional<uint64_t> crashAtStep;            //!< --crash-at-step=K
    std::vector<std::string> scenarioFlags;         //!< the parameter flags, unparsed
};

/// What the informational flags print (they exit 0 at once).
struct ServerTexts
{
    std::function<std::string()> contractJson; //!< --contract-json
    std::function<std::string()> paramsJson;   //!< --params-json
    std::function<std::string()> help;         //!< --help
};

/// Print "<prog>: <message>" on stderr and exit 2 (a bad command line).
[[noreturn]] void ExitBadFlag(const std::string& prog, const std::string& message);

/**
 * Split the command line into process flags, scenario flags and parameter flags. Exits 0 after
 * printing for --help / --contract-json / --params-json, and exits 2 for a bad process flag.
 */
ProcessFlags ParseProcessFlags(int argc,
                               char** argv,
                               const std::string& prog,
                               const std::vector<ScenarioFlag>& extra,
                               const ServerTexts& texts);

/// @return the --help text: usage, summary, parameters, process flags
std::string ServerHelp(const ScenarioIdentity& id,
                       const std::string& paramsHelp,
                       const std::vector<ScenarioFlag>& extra);

/// @return the --contract-json object (CONTRACT.md) from its parts
std::string ServerContractJson(const ScenarioIdentity& id,
                               const std::string& paramsJson,
                               const std::string& arraysJson);

/**
 * Answer requests until CLOSE or until the owner process has gone.
 * @param prog the binary's name (messages)
 * @param seg the attached segment (HELLO already sent)
 * @param scenario what runs the requests
 * @param flags the process flags (spin, crash injection)
 * @return the exit status
 */
int ServeRequests(const std::string& prog,
                  shm::PeerSegment& seg,
                  ServedScenario& scenario,
                  const ProcessFlags& flags);

/**
 * @brief A scenario binary: its parameters P, its arrays viewed through V and its dims, and
 *        the loop that serves it. A scenario main is a few lines:
 *
 *     auto server = MyScenarioServer();   // identity, tables, dims, checks
 *     return server.Run(argc, argv, [](const P& p, const V& v) {
 *         return std::make_unique<MyServedScenario>(p, v);
 *     });
 */
template <class P, class V>
class ScenarioServer
{
  public:
    /// Builds the scenario once its parameters are parsed and its arrays bound.
    using Factory = std::function<std::unique_ptr<ServedScenario>(const P&, const V&)>;

    /**
     * @param id name, binary, summary, dim meanings, constants
     * @param params the parameter table
     * @param arrays the array table
     * @param dims the dim symbols' values for given parameters (every symbol of id.dims)
     */
    ScenarioServer(ScenarioIdentity id,
                   const ParamTable<P>& params,
                   const ArrayTable<V>& arrays,
                   std::function<Dims(const P&)> dims)
        : m_id(std::move(id)),
          m_params(params),
          m_arrays(arrays),
          m_dims(std::move(dims))
    {
    }

    /// Add a check across parameters (run after parsing; throws ParamError, i.e. exit 2).
    ScenarioServer& Check(std::function<void(const P&)> check)
    {
        m_checks.push_back(std::move(check));
        return *this;
    }

    /// Add a scenario-specific process flag.
    ScenarioServer& Flag(ScenarioFlag flag)
    {
        m_extra.push_back(std::move(flag));
        return *this;
    }

    /// @return the identity
    const ScenarioIdentity& Identity() const
    {
        return m_id;
    }

    /// @return the --contract-json object
    std::string ContractJson() const
    {
        return ServerContractJson(m_id, m_params.ContractJson(), m_arrays.ContractJson());
    }

    /// @return the --help text
    std::string Help() const
    {
        return ServerHelp(m_id, m_params.Help(), m_extra);
    }

    /**
     * Parse parameter flags and run the checks, as the binary does.
     * @param flags "--name=value" flags
     * @return the parameters
     * @throws ParamError naming the first bad flag or relation
     */
    P ParseParams(const std::vector<std::string>& flags) const
    {
        P p{};
        m_params.Parse(flags, p);
        for (const auto& check : m_checks)
        {
            check(p);
        }
        return p;
    }

    /// @param p parameters @return the dim symbols' values
    Dims DimsOf(const P& p) const
    {
        return m_dims(p);
    }

    /**
     * The whole binary: command line, segment, binding, serving.
     * @param argc from main
     * @param argv from main
     * @param make builds the scenario
     * @return the exit status (see the top of this file)
     */
    int Run(int argc, char** argv, const Factory& make) const
    {
        const std::string& prog = m_id.binary;
        const ServerTexts texts{[this] { return ContractJson(); },
                                [this] { return m_params.DefaultsJson(); },
                                [this] { return Help(); }};
        const ProcessFlags flags = ParseProcessFlags(argc, argv, prog, m_extra, texts);
        P p{};
        try
        {
            p = ParseParams(flags.scenarioFlags);
        }
        catch (const ParamError& e)
        {
            ExitBadFlag(prog, e.what());
        }
        if (flags.segment.empty())
        {
            ExitBadFlag(prog,
                        "--segment=NAME is required (the shared-memory segment pybridge created)");
        }

        std::optional<shm::PeerSegment> seg;
        try
        {
            seg.emplace(flags.segment);
        }
        catch (const shm::SegmentError& e)
        {
            std::fprintf(stderr, "%s: %s\n", prog.c_str(), e.what());
            return 3;
        }
        const Dims dims = m_dims(p);
        V views{};
        try
        {
            views = m_arrays.Bind(seg->header(), dims);
        }
        catch (const shm::LayoutError& e)
        {
            const std::string msg = m_id.scenario + " arrays: " + e.what();
            std::fprintf(stderr, "%s: %s\n", prog.c_str(), msg.c_str());
            seg->ReportError(shm::ErrorCode::kArrays, msg);
            return 4;
        }
        std::unique_ptr<ServedScenario> scenario;
        try
        {
            scenario = make(p, views);
        }
        catch (const std::exception& e)
        {
            std::fprintf(stderr, "%s: %s\n", prog.c_str(), e.what());
            seg->ReportError(shm::ErrorCode::kSimulation, e.what());
            return 1;
        }
        std::string sizes;
        for (const auto& [symbol, value] : dims)
        {
            sizes += " " + symbol + "=" + std::to_string(value);
        }
        std::fprintf(stderr,
                     "%s: attached to %s (pid %d):%s\n",
                     prog.c_str(),
                     flags.segment.c_str(),
                     static_cast<int>(::getpid()),
                     sizes.c_str());
        seg->Hello();
        return ServeRequests(prog, *seg, *scenario, flags);
    }

  private:
    ScenarioIdentity m_id;                             //!< names, dims, constants
    const ParamTable<P>& m_params;                     //!< parameters
    const ArrayTable<V>& m_arrays;                     //!< arrays
    std::function<Dims(const P&)> m_dims;              //!< dim values
    std::vector<std::function<void(const P&)>> m_checks; //!< relations, limits
    std::vector<ScenarioFlag> m_extra;                 //!< scenario-specific flags
};

} // namespace fedmarl
} // namespace ns3

#endif // FEDMARL_SCENARIO_SERVER_H
