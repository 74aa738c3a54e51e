/*
 * fedmarl-ns3: the inx-factory scenario's contract with Python.
 * SPDX-License-Identifier: GPL-2.0-only
 *
 * The array table below is the one list of the segment's arrays: the binary binds its segment
 * from it, the in-process tests size their buffers from it, and --contract-json prints it for
 * Python (pybridge/contract.py builds the segment from what is printed). Requests (RESET, STEP,
 * CLOSE) and errors: ns3-scenarios/common/scenario-server.h; what each does here:
 * InxFactoryScenario (inx-factory-scenario.h).
 */

#include "inx-factory-contract.h"

#include "factory-alley-mobility.h"
#include "inx-subnetwork-mac.h"

#include "ns3/double.h"
#include "ns3/nstime.h"
#include "ns3/uinteger.h"

#include <vector>

namespace ns3
{
namespace fedmarl
{

namespace
{

using A = InxFactoryArrays;
constexpr auto kIn = ArrayDirection::kIn;
constexpr auto kOut = ArrayDirection::kOut;

ArrayTable<A>
BuildArrayTable()
{
    ArrayTable<A> t;
    t.Add("actions", &A::actions, {"N"}, kIn,
          "channel each agent asks for; a switch takes effect after U{1..tau_max} steps "
          "(the twin's switching rule); one outside [0, K) is an error naming the agent");
    t.Add("obs", &A::obs, {"N", "W"}, kOut,
          "as twin.observation(): obs_quantity sinr: 10 log10 of sinr_per_channel (dB); "
          "interference: 10 log10(I_k + noise) + 30 (dBm); reduced over a subnetwork's devices "
          "by obs_reduce (full: channel-major, devices inside), clipped to [-150, 150]");
    t.Add("reward", &A::reward, {"N"}, kOut, "reference 002 eq. (13) on rate_fbl");
    t.Add("rate_fbl", &A::rateFbl, {"N", "M"}, kOut,
          "payload bits delivered in the interval / (B T), bps/Hz: the real packet throughput");
    t.Add("rate_shannon", &A::rateShannon, {"N", "M"}, kOut,
          "log2(1 + sinr), bps/Hz");
    t.Add("sinr", &A::sinr, {"N", "M"}, kOut,
          "S / (I_avg on the channel in use + noise), linear");
    t.Add("interference", &A::interference, {"N", "M"}, kOut,
          "I_avg on the channel in use, W (no noise)");
    t.Add("sinr_per_channel", &A::sinrPerChannel, {"N", "M", "K"}, kOut,
          "S / (I_avg_k + noise), linear; S = own received power incl. this interval's fading; "
          "I_avg_k = sum over APs j on channel k of P_jd |h_jd|^2 busy_j / T (what the "
          "device's energy detector measures)");
    t.Add("channel", &A::channel, {"N"}, kOut, "channel in use during the interval");
    t.Add("switched", &A::switched, {"N"}, kOut, "1 where a switch took effect at this step");
    t.Add("coupling", &A::coupling, {"N", "N"}, kOut,
          "row n, column i: large-scale mean interference power of AP i at subnetwork n's "
          "devices (mean over them), W, diagonal 0 (as twin.coupling())");
    t.Add("delivered", &A::delivered, {"N", "M"}, kOut, "packets delivered in the interval");
    t.Add("lost", &A::lost, {"N", "M"}, kOut, "packets lost (failed TBs; no HARQ)");
    t.Add("dropped", &A::dropped, {"N", "M"}, kOut, "packets dropped at a full queue");
    t.Add("queue", &A::queue, {"N", "M"}, kOut,
          "queue length at the interval's end (full-buffer: 0, the backlog is infinite and "
          "never queued)");
    t.Add("delay_sum", &A::delaySum, {"N", "M"}, kOut,
          "sum of the delivered packets' delays, s");
    t.Add("delay_max", &A::delayMax, {"N", "M"}, kOut,
          "largest delay of a delivered packet, s (0 if none)");
    t.Add("delay_hist", &A::delayHist, {InxSubnetworkMac::kDelayBins}, kOut,
          "packets delivered in the interval, all devices, per delay bin: delay_hist_bins "
          "log-spaced bins over delay_hist_min_s..delay_hist_max_s, bin floor(bins "
          "log10(delay / min) / log10(max / min)), clamped to [0, bins - 1]");
    t.Add("airtime", &A::airtime, {"N"}, kOut, "fraction of the interval AP n transmitted");
    t.Add("metrics", &A::metrics, {InxFactoryScenario::kMetrics}, kOut,
          "global metrics named by constants.metrics: simulated time at the interval's end "
          "(s), step index t, episodes started by this process, RngRun, ns-3 events executed "
          "in the interval, TBs sent, packets created, delivered, lost, dropped (interval "
          "totals), wall seconds of the step's simulation work (switching, large-scale "
          "refresh, fading, the packet-level interval); the remaining slots are reserved (0)");
    t.Add("positions", &A::positions, {"N", 2}, kOut,
          "AP (x, y) in m at the interval's end, for rendering (robots move at large-scale "
          "refreshes, every large_scale_update_steps steps)");
    return t;
}

/// The contract's constants: numbers both sides need.
std::vector<std::pair<std::string, std::string>>
Constants()
{
    std::vector<std::string> names(InxFactoryScenario::kMetricNames.begin(),
                                   InxFactoryScenario::kMetricNames.end());
    std::vector<std::string> drive(InxFactoryScenario::kDriveRecord.begin(),
                                   InxFactoryScenario::kDriveRecord.end());
    return {{"delay_hist_bins", JsonInt(InxSubnetworkMac::kDelayBins)},
            {"delay_hist_min_s", JsonDouble(InxSubnetworkMac::kDelayMin)},
            {"delay_hist_max_s", JsonDouble(InxSubnetworkMac::kDelayMax)},
            {"metrics", JsonStringArray(names)},
            {"metric_slots", JsonInt(InxFactoryScenario::kMetrics)},
            {"obs_low", JsonDouble(-150.0)},
            {"obs_high", JsonDouble(150.0)},
            {"drive_magic", JsonString(InxFactoryScenario::kDriveMagic)},
            {"drive_record", JsonStringArray(drive)}};
}

/// The scenario behind the server: InxFactoryScenario on the bound arrays.
class ServedInxFactory : public ServedScenario
{
  public:
    ServedInxFactory(const InxFactoryParams& p, const InxFactoryArrays& arrays,
                     const std::string& trace, const std::string& drive)
        : m_scenario(p),
          m_arrays(arrays)
    {
        m_scenario.SetTraceFile(trace);
        m_scenario.SetDriveFile(drive);
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
    InxFactoryScenario m_scenario; //!< the simulation
    InxFactoryArrays m_arrays;     //!< views of the segment
};

} // namespace

const ArrayTable<InxFactoryArrays>&
InxFactoryArrayTable()
{
    static const ArrayTable<InxFactoryArrays> table = BuildArrayTable();
    return table;
}

Dims
InxFactoryDims(const InxFactoryParams& p)
{
    return {{"N", static_cast<uint64_t>(p.n_subnetworks)},
            {"M", static_cast<uint64_t>(p.n_devices)},
            {"K", static_cast<uint64_t>(p.n_channels)},
            {"W", static_cast<uint64_t>(p.ObsWidth())}};
}

void
CheckInxFactoryNs3Limits(const InxFactoryParams& p)
{
    const double tick = TimeStep(1).GetSeconds();
    if (p.step_duration < tick)
    {
        throw ParamError("--step_duration=" + FormatG(p.step_duration) +
                         " is below ns-3's time resolution of 1 ns");
    }
    if (p.traffic != "full-buffer" && p.packet_interval < tick)
    {
        throw ParamError("--packet_interval=" + FormatG(p.packet_interval) +
                         " is below ns-3's time resolution of 1 ns");
    }
    if (p.InfScenario() != "HH" && p.ResolvedClutterDensity() >= 1.0)
    {
        throw ParamError("--clutter_density=1 makes the LOS decay distance zero (TR 38.901 "
                         "Table 7.4.2-1 needs r in (0, 1)); use a value below 1");
    }
    // The robots must fit the hall's lanes at the minimum separation (the mobility model
    // refuses otherwise): say so now, naming the flags, rather than at the first RESET.
    auto manager = CreateObject<FactoryAlleyMobilityManager>();
    const auto tiles = static_cast<uint32_t>(p.ResolvedHallTiles());
    manager->SetAttribute("TilesX", UintegerValue(tiles));
    manager->SetAttribute("TilesY", UintegerValue(tiles));
    manager->SetAttribute("MinSeparation", DoubleValue(p.min_separation));
    const uint32_t capacity = manager->GetLaneCapacity();
    manager->Dispose();
    if (p.n_subnetworks > capacity)
    {
        throw ParamError("--n_subnetworks=" + std::to_string(p.n_subnetworks) +
                         " exceeds the lane capacity " + std::to_string(capacity) + " of a " +
                         std::to_string(tiles) + "x" + std::to_string(tiles) +
                         "-tile hall at min_separation=" + FormatG(p.min_separation) +
                         " m; raise --hall_tiles (or leave it auto)");
    }
}

InxFactoryServer
MakeInxFactoryServer()
{
    ScenarioIdentity id;
    id.scenario = "inx-factory";
    id.binary = "fedmarl-inx-factory";
    id.summary = "The inx-factory scenario at packet level (in-X subnetworks on robots in a "
                 "factory hall), served over the fedmarl shared-memory bridge.";
    id.dims = {{"N", "number of agents (n_subnetworks)"},
               {"M", "devices per subnetwork (n_devices); device d of subnetwork n is n M + m"},
               {"K", "shared channels (n_channels)"},
               {"W", "observation width per agent: K, or K * M when obs_reduce = full"}};
    id.constants = Constants();
    InxFactoryServer server(id, InxFactoryParamTable(), InxFactoryArrayTable(), InxFactoryDims);
    server.Check([](const InxFactoryParams& p) { p.ValidateRelations(); });
    server.Check(CheckInxFactoryNs3Limits);
    return server;
}

std::unique_ptr<ServedScenario>
MakeServedInxFactory(const InxFactoryParams& p,
                     const InxFactoryArrays& arrays,
                     const std::string& trace,
                     const std::string& drive)
{
    return std::make_unique<ServedInxFactory>(p, arrays, trace, drive);
}

} // namespace fedmarl
} // namespace ns3
