/*
 * fedmarl-ns3: the edge-offload scenario's contract with Python.
 * SPDX-License-Identifier: GPL-2.0-only
 *
 * The array table below is the one list of the segment's arrays (names: model section 6, the
 * info keys; counts are i32 in the segment, as the bridge has no int64). Requests and errors:
 * ns3-scenarios/common/scenario-server.h; what RESET and STEP do: EdgeOffloadScenario.
 */

#include "edge-offload-contract.h"

#include <string>
#include <vector>

namespace ns3
{
namespace fedmarl
{

namespace
{

using A = EdgeOffloadArrays;
constexpr auto kIn = ArrayDirection::kIn;
constexpr auto kOut = ArrayDirection::kOut;

ArrayTable<A>
BuildArrayTable()
{
    ArrayTable<A> t;
    t.Add("actions", &A::actions, {"U", 3}, kIn,
          "(target 0..E: 0 local, e+1 server e; channel 0..K-1; CPU level 0..F-1) per user; a "
          "value outside is an error naming the agent");
    t.Add("obs", &A::obs, {"U", "W"}, kOut,
          "model section 5: [0] local tasks, [1] local cycles / 1e9, [2] uplink tasks, [3] uplink "
          "bits / 1e6, [4] energy last interval mJ, [5] CPU level / max(F-1, 1), [6:6+K] channel "
          "busy, [6+K:9+K] head-of-line class one-hot, [9+K] its slack s in [0, 10], "
          "[10+K:10+K+E] server backlog one interval late s, [10+K+E:] SNR dB in [-50, 100]");
    t.Add("reward", &A::reward, {"U"}, kOut, "model section 5 reward of the interval");
    t.Add("created", &A::created, {"U", "C"}, kOut, "tasks created in the interval (incl. rejected)");
    t.Add("done", &A::done, {"U", "C"}, kOut, "tasks whose result came back by the deadline");
    t.Add("late", &A::late, {"U", "C"}, kOut,
          "tasks late in the interval: deadline fell in it without a result, or rejected at "
          "max_tasks");
    t.Add("waiting", &A::waiting, {"U", "C"}, kOut, "tasks held at the interval end");
    t.Add("latency_sum", &A::latencySum, {"U", "C"}, kOut, "sum of done tasks' latencies, s");
    t.Add("latency_max", &A::latencyMax, {"U", "C"}, kOut, "largest latency of a done task, s");
    t.Add("latency_hist", &A::latencyHist, {"C", "H"}, kOut,
          "done tasks per latency bin: bin floor(H log10(x / 1e-5) / 6) clamped to [0, H-1]");
    t.Add("bits_done", &A::bitsDone, {"U"}, kOut, "payload bits of done tasks");
    t.Add("energy_cpu", &A::energyCpu, {"U"}, kOut,
          "J: CpuEnergyModel (kappa f^3 W busy, cpu_idle_power_w idle)");
    t.Add("energy_radio", &A::energyRadio, {"U"}, kOut,
          "J: WifiRadioEnergyModel (TX, RX current; idle and CCA-busy 0)");
    t.Add("offloaded", &A::offloaded, {"U"}, kOut, "arrivals sent to a server in the interval");
    t.Add("uplink_bits", &A::uplinkBits, {"U"}, kOut,
          "task payload bits acknowledged by the MAC in the interval (left the buffer)");
    t.Add("channel_busy", &A::channelBusy, {"K"}, kOut,
          "busy fraction (CCA-busy, RX, TX) of each channel in the interval, mean over the E APs' "
          "devices on it");
    t.Add("server_backlog_s", &A::serverBacklog, {"E"}, kOut,
          "remaining cycles / server_cpu_hz at the interval end, s");
    t.Add("target", &A::target, {"U"}, kOut, "target applied");
    t.Add("channel", &A::channel, {"U"}, kOut, "channel applied");
    t.Add("cpu_level", &A::cpuLevel, {"U"}, kOut, "CPU level applied");
    t.Add("mac_retries", &A::macRetries, {"U"}, kOut,
          "QoS data MPDUs the user's PHY sent with the Retry bit");
    t.Add("packets_lost", &A::packetsLost, {"U"}, kOut,
          "task datagrams the user's MAC dropped (retry limit, expiry); each is re-sent");
    t.Add("air_bytes", &A::airBytes, {"U"}, kOut,
          "PSDU bytes the user's PHY sent (MAC headers, retries, BlockAcks of results included; "
          "PHY preamble excluded)");
    t.Add("positions", &A::positions, {"U", 2}, kOut, "user (x, y) at the interval end, m");
    t.Add("snr_db", &A::snrDb, {"U", "E"}, kOut,
          "SNR to each AP at the start of the next interval (P_tx G |h|^2 / N), dB, unclipped");
    t.Add("next_arrivals", &A::nextArrivals, {"U", "C"}, kOut,
          "the next interval's arrivals, drawn one interval ahead: offset from its start (s) "
          "of each class's task, -1 where none (the central heuristic's oracle, as the twin's "
          "pending_arrivals())");
    t.Add("metrics", &A::metrics, {EdgeOffloadScenario::kMetrics}, kOut,
          "global metrics named by constants.metrics (wall_seconds: wall-clock seconds the "
          "interval took to simulate); the remaining slots are reserved (0)");
    return t;
}

std::vector<std::pair<std::string, std::string>>
Constants()
{
    std::vector<std::string> names(EdgeOffloadScenario::kMetricNames.begin(),
                                   EdgeOffloadScenario::kMetricNames.end());
    auto numbers = [](const std::vector<double>& v) {
        std::vector<std::string> items;
        for (double x : v)
        {
            items.push_back(JsonDouble(x));
        }
        return JsonArray(items);
    };
    return {{"metrics", JsonStringArray(names)},
            {"metric_slots", JsonInt(EdgeOffloadScenario::kMetrics)},
            {"latency_hist_bins", JsonInt(EdgeOffloadScenario::kHistBins)},
            {"latency_hist_min_s", JsonDouble(EdgeOffloadScenario::kHistMin)},
            {"latency_hist_max_s", JsonDouble(10.0)},
            {"mcs_snr_threshold_db", numbers(EdgeOffloadScenario::McsThresholdsDb())},
            {"mcs_rate_mbps", numbers(EdgeOffloadScenario::McsRatesMbps())},
            {"mcs_ber_threshold", JsonDouble(EdgeOffloadScenario::IdealBerThreshold())},
            {"udp_payload_max_bytes", JsonInt(EdgeOffloadScenario::kMaxPayload)},
            {"task_header_bytes", JsonInt(EdgeOffloadScenario::kHeaderBytes)},
            {"mac_window_datagrams", JsonInt(EdgeOffloadScenario::kWindow)},
            {"obs_snr_low_db", JsonDouble(-50.0)},
            {"obs_snr_high_db", JsonDouble(100.0)}};
}

class ServedEdgeOffload : public ServedScenario
{
  public:
    ServedEdgeOffload(const EdgeOffloadParams& p, const EdgeOffloadArrays& arrays)
        : m_scenario(p),
          m_arrays(arrays)
    {
    }

    void Reset(uint64_t run) override
    {
        m_scenario.Reset(run, m_arrays);
    }

    void Step() override
    {
        m_scenario.Step(m_arrays.actions, m_arrays);
    }

    void Close() override
    {
        m_scenario.Teardown();
    }

  private:
    EdgeOffloadScenario m_scenario;
    EdgeOffloadArrays m_arrays;
};

} // namespace

const ArrayTable<EdgeOffloadArrays>&
EdgeOffloadArrayTable()
{
    static const ArrayTable<EdgeOffloadArrays> table = BuildArrayTable();
    return table;
}

Dims
EdgeOffloadDims(const EdgeOffloadParams& p)
{
    return {{"U", static_cast<uint64_t>(p.n_users)},
            {"E", static_cast<uint64_t>(p.n_servers)},
            {"K", static_cast<uint64_t>(p.n_channels)},
            {"W", static_cast<uint64_t>(p.ObsWidth())},
            {"F", static_cast<uint64_t>(p.cpu_levels_ghz ? p.NumCpuLevels() : 1)},
            {"C", 3},
            {"H", EdgeOffloadScenario::kHistBins}};
}

EdgeOffloadServer
MakeEdgeOffloadServer()
{
    ScenarioIdentity id;
    id.scenario = "edge-offload";
    id.binary = "fedmarl-edge-offload";
    id.summary = "The edge-offload scenario at packet level (users offload tasks to edge servers "
                 "over 802.11ax Wi-Fi, UDP/IPv4, ns-3 energy models), served over the fedmarl "
                 "shared-memory bridge.";
    id.dims = {{"U", "number of agents (n_users)"},
               {"E", "edge servers, one AP each (n_servers)"},
               {"K", "channels (n_channels)"},
               {"W", "observation width per agent: 10 + K + 2E"},
               {"F", "CPU levels (entries of cpu_levels_ghz)"},
               {"C", "task classes: 0 URLLC, 1 eMBB, 2 mMTC (3)"},
               {"H", "latency histogram bins (60)"}};
    id.constants = Constants();
    EdgeOffloadServer server(id, EdgeOffloadParamTable(), EdgeOffloadArrayTable(),
                             EdgeOffloadDims);
    server.Check([](const EdgeOffloadParams& p) { p.ValidateRelations(); });
    return server;
}

std::unique_ptr<ServedScenario>
MakeServedEdgeOffload(const EdgeOffloadParams& p, const EdgeOffloadArrays& arrays)
{
    return std::make_unique<ServedEdgeOffload>(p, arrays);
}

} // namespace fedmarl
} // namespace ns3
