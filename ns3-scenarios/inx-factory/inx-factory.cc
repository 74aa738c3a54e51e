// fedmarl-inx-factory: the inx-factory scenario at packet level (ns-3), served over the
// shared-memory bridge (pybridge/native/include/fedmarl/shm_layout.h).
//
// Usage: fedmarl-inx-factory --segment=NAME [--<parameter>=<value> ...] [--spin-us=U]
//                            [--crash-at-step=K]
//                            [--trace=FILE]
//        fedmarl-inx-factory --params-json | --help
// Every parameter of pybridge/scenarios/inx_factory.py (InxFactoryConfig) is a flag with the
// same name, default and range; None defaults are derived as the dataclass's resolved_*
// properties do ("None"/"none"/"null" selects them explicitly, hall_tiles takes "auto"). The
// packet-level ones: --traffic=full-buffer|poisson|periodic, --packet_size (bytes),
// --packet_interval (s), --queue_size (packets). A bad or unknown flag: one line on stderr,
// exit status 2. --params-json prints {name: default} for every parameter (null for None,
// "auto" for hall_tiles) and exits 0.
//
// ------------------------------------------------------------------------------- the contract
// The Python side creates the segment with exactly these arrays (N = n_subnetworks, M =
// n_devices, K = n_channels, W = K, or K * M when obs_reduce = full; H = 64; devices are indexed
// d = n M + m). A missing array or a wrong dtype/count is reported as kArrays and exit 4.
//   input   actions          i32 [N]      channel each agent asks for (twin's switching rule)
//   output  obs              f32 [N*W]    as twin.observation(): obs_quantity sinr: 10 log10 of
//                                         sinr_per_channel (dB); interference: 10 log10(I_k +
//                                         noise) + 30 (dBm); reduced over a subnetwork's devices
//                                         by obs_reduce (full: channel-major, devices inside),
//                                         clipped to [-150, 150]
//           reward           f32 [N]      reference 002 eq. (13) on rate_fbl
//           rate_fbl         f32 [N*M]    payload bits delivered in the interval / (B T), bps/Hz:
//                                         the real packet throughput
//           rate_shannon     f32 [N*M]    log2(1 + sinr)
//           sinr             f32 [N*M]    S / (I_avg on the channel in use + noise), linear
//           interference     f32 [N*M]    I_avg on the channel in use, W (no noise)
//           sinr_per_channel f32 [N*M*K]  S / (I_avg_k + noise); S = own received power incl.
//                                         this interval's fading; I_avg_k = sum over APs j on
//                                         channel k of P_jd |h_jd|^2 busy_j / T (what the
//                                         device's energy detector measures)
//           channel          i32 [N]      channel in use during the interval
//           switched         u8  [N]      1 where a switch took effect at this step
//           coupling         f32 [N*N]    row n, column i: large-scale mean interference power
//                                         of AP i at subnetwork n's devices (mean over them), W,
//                                         diagonal 0 (as twin.coupling())
//           delivered        i32 [N*M]    packets delivered in the interval
//           lost             i32 [N*M]    packets lost (failed TBs; no HARQ)
//           dropped          i32 [N*M]    packets dropped at a full queue
//           queue            i32 [N*M]    queue length at the interval's end (full-buffer: 0,
//                                         the backlog is infinite and never queued)
//           delay_sum        f32 [N*M]    sum of the delivered packets' delays, s
//           delay_max        f32 [N*M]    largest delay of a delivered packet, s (0 if none)
//           delay_hist       i32 [H]      packets delivered in the interval, all devices, per
//                                         delay bin: 64 log-spaced bins over 1e-6..1 s, bin
//                                         floor(64 log10(delay / 1e-6) / 6), clamped to [0, 63]
//           airtime          f32 [N]      fraction of the interval AP n transmitted
//           metrics          f64 [16]     0 simulated time at the interval's end (s), 1 step
//                                         index t, 2 episodes started by this process, 3 RngRun,
//                                         4 ns-3 events executed in the interval, 5 TBs sent,
//                                         6 packets created, 7 delivered, 8 lost, 9 dropped
//                                         (interval totals), 10 wall seconds of the step's
//                                         simulation work (switching, large-scale refresh,
//                                         fading, the packet-level interval), 11-15 reserved (0)
// Requests:
//   RESET(arg)  a fresh episode in this process with RngRun = arg (RngSeed = 1 + seed mod
//               4294944442): new nodes, placement, fields, fading, MAC, uniformly random
//               initial channels; simulates one warm-up interval [0, T) with them and answers
//               with its measurements (switched = 0); t = 0.
//   STEP        reads actions (one outside [0, K) is an error naming the agent), applies
//               switching, t += 1, refreshes the large scale every large_scale_update_steps,
//               advances the fading once, simulates [t T, (t+1) T) and answers. A STEP after
//               episode_steps steps is the error "episode is over: reset".
//   CLOSE       answers and exits 0.
// Errors (bad actions, STEP before RESET or after the episode, any exception) are reported
// through the segment (peer_state ERROR with the message) and the process exits non-zero; the
// bridge then raises BridgeError with the message. A peer whose owner has gone exits quietly.
// Fault injection (tests): --crash-at-step=K raises SIGKILL when the K-th STEP (counted from the
// start of the process) is requested.

#include "inx-factory-params.h"
#include "inx-factory-scenario.h"

#include "factory-alley-mobility.h"
#include "inx-subnetwork-mac.h"

#include "ns3/double.h"
#include "ns3/nstime.h"
#include "ns3/uinteger.h"

#include <signal.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <exception>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "fedmarl/shm_layout.h"

namespace shm = fedmarl::shm;
using ns3::InxFactoryOutputs;
using ns3::InxFactoryScenario;
using ns3::fedmarl::InxFactoryParams;
using ns3::fedmarl::ParamError;

namespace
{

constexpr const char* kProg = "fedmarl-inx-factory";

/// Command-line state beyond the scenario parameters.
struct Flags
{
    std::string segment;                            //!< --segment=NAME
    long long spinUs{50};                           //!< --spin-us=U
    std::optional<unsigned long long> crashAtStep;  //!< --crash-at-step=K
    std::string trace;                              //!< --trace=FILE
    InxFactoryParams params;                        //!< everything else
};

[[noreturn]] void
Usage(int status)
{
    std::FILE* f = status == 0 ? stdout : stderr;
    std::fprintf(f,
                 "usage: %s --segment=NAME [--<parameter>=<value> ...] [--spin-us=U] "
                 "[--crash-at-step=K]\n"
                 "       %s --params-json | --help\n\n"
                 "The inx-factory scenario at packet level, served over the fedmarl "
                 "shared-memory bridge.\n\nScenario parameters (default, valid range, unit):\n%s"
                 "\nProcess flags:\n"
                 "  --segment=NAME    shared-memory segment created by pybridge (required)\n"
                 "  --spin-us=U       microseconds to spin before sleeping on a request "
                 "(default 50)\n"
                 "  --crash-at-step=K raise SIGKILL when the K-th STEP is requested (tests)\n"
                 "  --trace=FILE      append every interval's channel state (positions, "
                 "large-scale and faded link powers, full-occupancy SINR) to FILE\n"
                 "  --params-json     print {name: default} of every parameter as JSON\n",
                 kProg,
                 kProg,
                 ns3::fedmarl::InxFactoryParamsHelp().c_str());
    std::exit(status);
}

[[noreturn]] void
BadFlag(const std::string& message)
{
    std::fprintf(stderr, "%s: %s\n", kProg, message.c_str());
    std::exit(2);
}

bool
ParseUnsigned(std::string_view text, unsigned long long& out)
{
    if (text.empty() || text[0] == '-')
    {
        return false;
    }
    const std::string s(text);
    char* end = nullptr;
    errno = 0;
    out = std::strtoull(s.c_str(), &end, 10);
    return errno == 0 && end && *end == '\0';
}

Flags
ParseFlags(int argc, char** argv)
{
    Flags f;
    std::vector<std::string> scenario;
    for (int i = 1; i < argc; ++i)
    {
        const std::string_view a = argv[i];
        unsigned long long v = 0;
        if (a == "--help" || a == "-h")
        {
            Usage(0);
        }
        else if (a == "--params-json")
        {
            std::printf("%s\n", ns3::fedmarl::InxFactoryParamsJson().c_str());
            std::exit(0);
        }
        else if (a.starts_with("--segment="))
        {
            f.segment = std::string(a.substr(10));
        }
        else if (a.starts_with("--spin-us="))
        {
            if (!ParseUnsigned(a.substr(10), v) || v > 10'000'000)
            {
                BadFlag(std::string(a) + ": --spin-us must be an integer in [0, 10000000] us");
            }
            f.spinUs = static_cast<long long>(v);
        }
        else if (a.starts_with("--trace="))
        {
            f.trace = std::string(a.substr(8));
            if (f.trace.empty())
            {
                BadFlag("--trace=FILE needs a file name");
            }
        }
        else if (a.starts_with("--crash-at-step="))
        {
            if (!ParseUnsigned(a.substr(16), v) || v == 0)
            {
                BadFlag(std::string(a) + ": --crash-at-step must be an integer >= 1");
            }
            f.crashAtStep = v;
        }
        else
        {
            scenario.emplace_back(a);
        }
    }
    try
    {
        ns3::fedmarl::ParseInxFactoryFlags(scenario, f.params);
        f.params.ValidateRelations();
    }
    catch (const ParamError& e)
    {
        BadFlag(e.what());
    }
    if (f.segment.empty())
    {
        BadFlag("--segment=NAME is required (the shared-memory segment pybridge created)");
    }
    return f;
}

/// @param x a number @return it as "%g" prints it
std::string
FormatNumber(double x)
{
    char buf[32];
    std::snprintf(buf, sizeof(buf), "%g", x);
    return buf;
}

/// Checks that only the ns-3 models impose, beyond the dataclass's ranges.
void
CheckNs3Limits(const InxFactoryParams& p)
{
    const double tick = ns3::TimeStep(1).GetSeconds();
    if (p.step_duration < tick)
    {
        BadFlag("--step_duration=" + FormatNumber(p.step_duration) +
                " is below ns-3's time resolution of 1 ns");
    }
    if (p.traffic != "full-buffer" && p.packet_interval < tick)
    {
        BadFlag("--packet_interval=" + FormatNumber(p.packet_interval) +
                " is below ns-3's time resolution of 1 ns");
    }
    if (p.InfScenario() != "HH" && p.ResolvedClutterDensity() >= 1.0)
    {
        BadFlag("--clutter_density=1 makes the LOS decay distance zero (TR 38.901 Table "
                "7.4.2-1 needs r in (0, 1)); use a value below 1");
    }
    // The robots must fit the hall's lanes at the minimum separation (the mobility model
    // refuses otherwise): say so now, naming the flags, rather than at the first RESET.
    auto manager = ns3::CreateObject<ns3::FactoryAlleyMobilityManager>();
    const auto tiles = static_cast<uint32_t>(p.ResolvedHallTiles());
    manager->SetAttribute("TilesX", ns3::UintegerValue(tiles));
    manager->SetAttribute("TilesY", ns3::UintegerValue(tiles));
    manager->SetAttribute("MinSeparation", ns3::DoubleValue(p.min_separation));
    const uint32_t capacity = manager->GetLaneCapacity();
    manager->Dispose();
    if (p.n_subnetworks > capacity)
    {
        BadFlag("--n_subnetworks=" + std::to_string(p.n_subnetworks) +
                " exceeds the lane capacity " + std::to_string(capacity) + " of a " +
                std::to_string(tiles) + "x" + std::to_string(tiles) +
                "-tile hall at min_separation=" + FormatNumber(p.min_separation) +
                " m; raise --hall_tiles (or leave it auto)");
    }
}

/// The segment's arrays, bound by name with the contract's dtypes and counts.
struct Arrays
{
    int32_t* actions{nullptr}; //!< input
    InxFactoryOutputs out;     //!< outputs
};

Arrays
Bind(shm::Header* h, const InxFactoryParams& p)
{
    const size_t n = p.n_subnetworks;
    const size_t d = n * p.n_devices;
    const size_t k = p.n_channels;
    const size_t w = p.ObsWidth();
    auto f32 = [h](const char* name, size_t count) {
        return std::span<float>(shm::Array<float>(h, name, count), count);
    };
    auto i32 = [h](const char* name, size_t count) {
        return std::span<int32_t>(shm::Array<int32_t>(h, name, count), count);
    };
    Arrays a;
    a.actions = shm::Array<int32_t>(h, "actions", n);
    a.out.obs = f32("obs", n * w);
    a.out.reward = f32("reward", n);
    a.out.rateFbl = f32("rate_fbl", d);
    a.out.rateShannon = f32("rate_shannon", d);
    a.out.sinr = f32("sinr", d);
    a.out.interference = f32("interference", d);
    a.out.sinrPerChannel = f32("sinr_per_channel", d * k);
    a.out.channel = i32("channel", n);
    a.out.switched = std::span<uint8_t>(shm::Array<uint8_t>(h, "switched", n), n);
    a.out.coupling = f32("coupling", n * n);
    a.out.delivered = i32("delivered", d);
    a.out.lost = i32("lost", d);
    a.out.dropped = i32("dropped", d);
    a.out.queue = i32("queue", d);
    a.out.delaySum = f32("delay_sum", d);
    a.out.delayMax = f32("delay_max", d);
    a.out.delayHist = i32("delay_hist", ns3::InxSubnetworkMac::kDelayBins);
    a.out.airtime = f32("airtime", n);
    a.out.metrics = std::span<double>(
        shm::Array<double>(h, "metrics", InxFactoryScenario::kMetrics),
        InxFactoryScenario::kMetrics);
    return a;
}

} // namespace

int
main(int argc, char** argv)
{
    const Flags flags = ParseFlags(argc, argv);
    CheckNs3Limits(flags.params);

    std::optional<shm::PeerSegment> seg;
    try
    {
        seg.emplace(flags.segment);
    }
    catch (const shm::SegmentError& e)
    {
        std::fprintf(stderr, "%s: %s\n", kProg, e.what());
        return 3;
    }
    shm::Header* h = seg->header();
    Arrays arrays;
    try
    {
        arrays = Bind(h, flags.params);
    }
    catch (const shm::LayoutError& e)
    {
        const std::string msg = std::string("inx-factory arrays: ") + e.what();
        std::fprintf(stderr, "%s: %s\n", kProg, msg.c_str());
        seg->ReportError(shm::ErrorCode::kArrays, msg);
        return 4;
    }

    std::optional<InxFactoryScenario> scenario;
    try
    {
        scenario.emplace(flags.params);
        scenario->SetTraceFile(flags.trace);
    }
    catch (const std::exception& e)
    {
        std::fprintf(stderr, "%s: %s\n", kProg, e.what());
        seg->ReportError(shm::ErrorCode::kSimulation, e.what());
        return 1;
    }
    std::fprintf(stderr,
                 "%s: attached to %s (pid %d): N=%lld M=%lld K=%lld W=%lld traffic=%s\n",
                 kProg,
                 flags.segment.c_str(),
                 static_cast<int>(getpid()),
                 static_cast<long long>(flags.params.n_subnetworks),
                 static_cast<long long>(flags.params.n_devices),
                 static_cast<long long>(flags.params.n_channels),
                 static_cast<long long>(flags.params.ObsWidth()),
                 flags.params.traffic.c_str());
    seg->Hello();

    const std::span<const int32_t> actions(arrays.actions,
                                           static_cast<size_t>(flags.params.n_subnetworks));
    const int64_t spinNs = flags.spinUs * 1000;
    shm::PeerSegment::Request req;
    while (seg->WaitRequest(req, spinNs))
    {
        try
        {
            switch (req.command)
            {
            case shm::Command::kStep: {
                const uint64_t step = h->step_counter.load(std::memory_order_relaxed) + 1;
                if (flags.crashAtStep && step == *flags.crashAtStep)
                {
                    std::fprintf(stderr,
                                 "%s: crashing at step %llu as asked (--crash-at-step)\n",
                                 kProg,
                                 static_cast<unsigned long long>(step));
                    raise(SIGKILL);
                }
                scenario->Step(actions, arrays.out);
                h->step_counter.store(step, std::memory_order_relaxed); // published by Respond
                seg->Respond();
                break;
            }
            case shm::Command::kReset:
                scenario->Reset(req.arg, arrays.out);
                seg->Respond();
                break;
            case shm::Command::kClose:
                scenario->Teardown();
                seg->Close();
                return 0;
            default: {
                const std::string msg =
                    "unknown command " + std::to_string(static_cast<uint32_t>(req.command));
                std::fprintf(stderr, "%s: %s\n", kProg, msg.c_str());
                seg->ReportError(shm::ErrorCode::kCommand, msg);
                return 5;
            }
            }
        }
        catch (const std::exception& e)
        {
            std::fprintf(stderr, "%s: %s\n", kProg, e.what());
            seg->ReportError(shm::ErrorCode::kSimulation, e.what());
            return 1;
        }
    }
    // The owner process has gone: nobody to report to.
    return 0;
}
