/*
 * fedmarl-ns3: the inx-factory scenario at packet level.
 * SPDX-License-Identifier: GPL-2.0-only
 */

#include "inx-factory-scenario.h"

#include "ar1-rayleigh-fading.h"
#include "factory-alley-mobility.h"
#include "inf-channel.h"
#include "inx-mac-helper.h"
#include "inx-shared-channel.h"
#include "inx-subnetwork-mac.h"
#include "three-gpp-indoor-factory-channel-condition-model.h"
#include "three-gpp-indoor-factory-propagation-loss-model.h"

#include "ns3/constant-position-mobility-model.h"
#include "ns3/double.h"
#include "ns3/hierarchical-mobility-model.h"
#include "ns3/log.h"
#include "ns3/node.h"
#include "ns3/random-variable-stream.h"
#include "ns3/rng-seed-manager.h"
#include "ns3/simulator.h"
#include "ns3/string.h"
#include "ns3/uinteger.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>
#include <numbers>
#include <numeric>
#include <stdexcept>
#include <string>

namespace ns3
{

NS_LOG_COMPONENT_DEFINE("InxFactoryScenario");

namespace
{

// Fixed stream indices: every random variable of an episode draws from a stream that depends on
// (RngSeed, RngRun, index) only, so RESET with the same run replays the episode exactly (ns-3's
// automatic stream numbers keep counting across episodes of one process and would not).
constexpr int64_t kStreamMobility = 0;  // robot placement and exits (1 stream)
constexpr int64_t kStreamLoss = 1;      // shadow field (2)
constexpr int64_t kStreamCondition = 3; // LOS field (2)
constexpr int64_t kStreamFading = 5;    // AR(1) innovations (1)
constexpr int64_t kStreamScenario = 6;  // device offsets, initial channels (1)
constexpr int64_t kStreamMacs = 10;     // 4 per MAC

/// Largest valid MRG32k3a seed component (ns-3's RngStream needs seeds < m2 = 4294944443).
constexpr uint64_t kMaxRngSeed = 4294944442ULL;

/// Median of a small vector (numpy's: the mean of the two middle values for an even size).
double
Median(std::vector<double> v)
{
    std::sort(v.begin(), v.end());
    const size_t h = v.size() / 2;
    return v.size() % 2 ? v[h] : 0.5 * (v[h - 1] + v[h]);
}

} // namespace

InxFactoryScenario::InxFactoryScenario(const fedmarl::InxFactoryParams& params)
    : m_p(params),
      m_n(static_cast<uint32_t>(params.n_subnetworks)),
      m_m(static_cast<uint32_t>(params.n_devices)),
      m_k(static_cast<uint32_t>(params.n_channels)),
      m_d(m_n * m_m),
      m_w(static_cast<uint32_t>(params.ObsWidth())),
      m_nFaded(static_cast<uint32_t>(
          std::min<int64_t>(params.n_subnetworks - 1, params.max_faded_interferers))),
      m_noiseW(fedmarl::NoisePowerW(params.channel_bandwidth_hz, params.noise_figure_db)),
      m_rho(fedmarl::FadingRho(params.speed, params.carrier_freq_ghz * 1e9, params.step_duration)),
      // seed None (Python draws fresh run numbers instead) keeps the old default 0.
      m_rngSeed(static_cast<uint32_t>(
          1 + static_cast<uint64_t>(params.seed.value_or(0)) % kMaxRngSeed))
{
    m_p.ValidateRelations();
    const auto ticks = std::llround(params.step_duration *
                                    static_cast<double>(Seconds(1).GetTimeStep()));
    if (ticks < 1)
    {
        throw std::invalid_argument("step_duration is below ns-3's time resolution");
    }
    m_interval = TimeStep(ticks);
}

InxFactoryScenario::~InxFactoryScenario()
{
    Teardown();
    SetTraceFile(""); // closes the trace
}

void
InxFactoryScenario::Teardown()
{
    for (auto& mac : m_macs)
    {
        mac->Dispose();
    }
    m_macs.clear();
    if (m_channel)
    {
        m_channel->Dispose();
        m_channel = nullptr;
    }
    if (m_mobility)
    {
        m_mobility->Dispose(); // the robots' models point back at it: break the cycle
        m_mobility = nullptr;
    }
    if (m_loss)
    {
        m_loss->Dispose();
        m_loss = nullptr;
    }
    m_fading.reset();
    m_uniform = nullptr;
    m_apMobility.clear();
    m_deviceMobility.clear();
    m_apNodes = NodeContainer();
    m_deviceNodes = NodeContainer();
    // Disposes the nodes and their aggregated mobility models, cancels pending events (packet
    // arrivals) and resets the clock to 0 for the next episode.
    Simulator::Destroy();
    m_started = false;
}

void
InxFactoryScenario::Build()
{
    const double apHeight = m_p.ResolvedApHeight();
    const auto tiles = static_cast<uint32_t>(m_p.ResolvedHallTiles());

    m_apNodes.Create(m_n);
    m_deviceNodes.Create(m_d);

    m_uniform = CreateObject<UniformRandomVariable>();
    m_uniform->SetStream(kStreamScenario);
    if (!m_drive.empty())
    {
        // Trace-driven: every node sits where the drive file puts it, step by step.
        m_apMobility.resize(m_n);
        m_deviceMobility.resize(m_d);
        for (uint32_t i = 0; i < m_n; ++i)
        {
            auto model = CreateObject<ConstantPositionMobilityModel>();
            m_apNodes.Get(i)->AggregateObject(model);
            m_apMobility[i] = model;
        }
        for (uint32_t d = 0; d < m_d; ++d)
        {
            auto model = CreateObject<ConstantPositionMobilityModel>();
            m_deviceNodes.Get(d)->AggregateObject(model);
            m_deviceMobility[d] = model;
        }
    }
    else
    {
    // Robots: one AP per robot, moved explicitly every large_scale_update_steps intervals (the
    // manager's own periodic step is off), like the twin's mobility.step(L T).
    m_mobility = CreateObject<FactoryAlleyMobilityManager>();
    m_mobility->SetAttribute("TilesX", UintegerValue(tiles));
    m_mobility->SetAttribute("TilesY", UintegerValue(tiles));
    m_mobility->SetAttribute("Speed", DoubleValue(m_p.speed));
    m_mobility->SetAttribute("MinSeparation", DoubleValue(m_p.min_separation));
    m_mobility->SetAttribute("UpdateInterval", TimeValue(Time(0)));
    m_mobility->AssignStreams(kStreamMobility);
    m_mobility->Install(m_apNodes);
    m_apMobility.resize(m_n);
    for (uint32_t i = 0; i < m_n; ++i)
    {
        auto model = m_mobility->GetModel(i);
        model->SetAttribute("Height", DoubleValue(apHeight));
        m_apMobility[i] = model;
    }

    // Devices: a fixed offset from their robot, uniform in the disc of subnetwork_radius (the
    // twin's r = R sqrt(U), theta = 2 pi U), at device_height.
    m_deviceMobility.resize(m_d);
    for (uint32_t d = 0; d < m_d; ++d)
    {
        const double r = m_p.subnetwork_radius * std::sqrt(m_uniform->GetValue());
        const double theta = 2.0 * std::numbers::pi * m_uniform->GetValue();
        auto offset = CreateObject<ConstantPositionMobilityModel>();
        offset->SetPosition(
            Vector(r * std::cos(theta), r * std::sin(theta), m_p.device_height - apHeight));
        auto model = CreateObject<HierarchicalMobilityModel>();
        // Parent first: SetChild with a parent already set keeps the child's relative position
        // (SetParent after SetChild would preserve the absolute one instead).
        model->SetParent(m_apMobility[d / m_m]);
        model->SetChild(offset);
        m_deviceNodes.Get(d)->AggregateObject(model);
        m_deviceMobility[d] = model;
    }
    }

    // InF channel: spatially consistent LOS states and shadowing (fields drawn per episode).
    auto condition = CreateObject<ThreeGppIndoorFactoryChannelConditionModel>();
    condition->SetAttribute("Scenario", StringValue(m_p.InfScenario()));
    condition->SetAttribute("ClutterDensity", DoubleValue(m_p.ResolvedClutterDensity()));
    condition->SetAttribute("ClutterSize", DoubleValue(m_p.ResolvedClutterSize()));
    condition->SetAttribute("ClutterHeight", DoubleValue(m_p.ResolvedClutterHeight()));
    condition->SetAttribute("LosCorrelationDistance", DoubleValue(m_p.ResolvedLosCorrDistance()));
    condition->AssignStreams(kStreamCondition);
    m_loss = CreateObject<ThreeGppIndoorFactoryPropagationLossModel>();
    m_loss->SetAttribute("Frequency", DoubleValue(m_p.carrier_freq_ghz * 1e9));
    m_loss->SetAttribute("Scenario", StringValue(m_p.InfScenario()));
    m_loss->SetAttribute("ShadowCorrelationDistance", DoubleValue(m_p.shadow_corr_distance));
    m_loss->SetChannelConditionModel(condition);
    m_loss->AssignStreams(kStreamLoss);

    m_fading = std::make_unique<fedmarl::Ar1RayleighFading>(m_rho, /*lazy=*/true);
    m_fading->AssignStreams(kStreamFading);

    // The packet-level MAC: K shared channels, one MAC per AP serving its M devices.
    InxMacHelper helper;
    helper.SetChannelAttribute("NumChannels", UintegerValue(m_k));
    helper.SetChannelAttribute("NoisePower", DoubleValue(m_noiseW));
    helper.SetMacAttribute("PacketSize", UintegerValue(m_p.packet_size));
    helper.SetMacAttribute("QueueSize", UintegerValue(m_p.queue_size));
    helper.SetMacAttribute("Traffic", StringValue(m_p.traffic));
    helper.SetMacAttribute("PacketInterval", TimeValue(Seconds(m_p.packet_interval)));
    helper.SetMacAttribute("Blocklength", UintegerValue(m_p.blocklength));
    helper.SetMacAttribute("ErrorProbability", DoubleValue(m_p.error_prob));
    helper.SetMacAttribute("Bandwidth", DoubleValue(m_p.channel_bandwidth_hz));
    helper.SetMacAttribute("MaxSwitchDelay", UintegerValue(m_p.tau_max));
    std::vector<std::vector<uint32_t>> receivers(m_n);
    for (uint32_t d = 0; d < m_d; ++d)
    {
        receivers[d / m_m].push_back(d);
    }
    m_channel = helper.CreateChannel(receivers);
    m_macs = helper.Install(m_channel, receivers);
    InxMacHelper::AssignStreams(m_macs, kStreamMacs);
    for (auto& mac : m_macs)
    {
        mac->SetChannel(m_uniform->GetInteger(0, m_k - 1)); // uniform initial channel, as the twin
    }
    m_meanPower.assign(static_cast<size_t>(m_d) * m_n, 0.0);
    m_faded.assign(m_d, {});
    m_coupling.assign(static_cast<size_t>(m_n) * m_n, 0.0f);
}

void
InxFactoryScenario::SetTraceFile(const std::string& path)
{
    if (m_trace)
    {
        std::fclose(m_trace);
        m_trace = nullptr;
    }
    if (path.empty())
    {
        return;
    }
    m_trace = std::fopen(path.c_str(), "wb");
    if (!m_trace)
    {
        throw std::runtime_error("cannot open trace file " + path);
    }
    // Header: magic, N, M, K, a reserved word, the noise power (W).
    const char magic[8] = {'F', 'M', 'T', 'R', 'A', 'C', 'E', '1'};
    const uint32_t dims[4] = {m_n, m_m, m_k, 0};
    std::fwrite(magic, 1, sizeof(magic), m_trace);
    std::fwrite(dims, sizeof(uint32_t), 4, m_trace);
    std::fwrite(&m_noiseW, sizeof(double), 1, m_trace);
}

void
InxFactoryScenario::SetDriveFile(const std::string& path)
{
    m_drive.clear();
    if (path.empty())
    {
        return;
    }
    std::FILE* f = std::fopen(path.c_str(), "rb");
    if (!f)
    {
        throw std::runtime_error("--drive: cannot open " + path);
    }
    auto fail = [&](const std::string& what) {
        std::fclose(f);
        m_drive.clear();
        throw std::runtime_error("--drive " + path + ": " + what);
    };
    char magic[8];
    uint32_t dims[4];
    if (std::fread(magic, 1, 8, f) != 8 || std::memcmp(magic, kDriveMagic, 8) != 0)
    {
        fail(std::string("not a drive file (magic ") + kDriveMagic + " expected)");
    }
    if (std::fread(dims, sizeof(uint32_t), 4, f) != 4)
    {
        fail("truncated header");
    }
    const auto steps = static_cast<uint32_t>(m_p.episode_steps) + 1;
    if (dims[0] != m_n || dims[1] != m_d)
    {
        fail("holds N=" + std::to_string(dims[0]) + ", D=" + std::to_string(dims[1]) +
             " but the parameters give N=" + std::to_string(m_n) + ", D=" + std::to_string(m_d));
    }
    if (dims[2] < 1 || dims[3] != steps)
    {
        fail("holds " + std::to_string(dims[2]) + " episodes of " + std::to_string(dims[3]) +
             " records; episode_steps + 1 = " + std::to_string(steps) + " expected");
    }
    std::vector<int32_t> ch(m_n);
    std::vector<double> xyz(3 * static_cast<size_t>(std::max(m_n, m_d)));
    m_drive.resize(dims[2]);
    for (auto& episode : m_drive)
    {
        episode.resize(steps);
        for (auto& rec : episode)
        {
            if (std::fread(ch.data(), sizeof(int32_t), m_n, f) != m_n)
            {
                fail("truncated record");
            }
            rec.channel.resize(m_n);
            for (uint32_t n = 0; n < m_n; ++n)
            {
                if (ch[n] < 0 || static_cast<uint32_t>(ch[n]) >= m_k)
                {
                    fail("channel " + std::to_string(ch[n]) + " of subnetwork " +
                         std::to_string(n) + " is not in [0, " + std::to_string(m_k - 1) + "]");
                }
                rec.channel[n] = static_cast<uint32_t>(ch[n]);
            }
            for (auto [count, out] : {std::pair{m_n, &rec.ap}, std::pair{m_d, &rec.device}})
            {
                if (std::fread(xyz.data(), sizeof(double), 3 * count, f) != 3 * count)
                {
                    fail("truncated record");
                }
                out->resize(count);
                for (uint32_t i = 0; i < count; ++i)
                {
                    (*out)[i] = Vector(xyz[3 * i], xyz[3 * i + 1], xyz[3 * i + 2]);
                }
            }
        }
    }
    if (std::fgetc(f) != EOF)
    {
        fail("has bytes after the last record");
    }
    std::fclose(f);
}

void
InxFactoryScenario::ApplyDrive(uint32_t t, std::vector<uint8_t>* switched)
{
    const DriveRecord& rec = m_drive.at(m_driveEpisode).at(t);
    for (uint32_t n = 0; n < m_n; ++n)
    {
        if (switched)
        {
            (*switched)[n] = m_macs[n]->GetChannel() != rec.channel[n] ? 1 : 0;
        }
        m_macs[n]->SetChannel(rec.channel[n]);
        m_apMobility[n]->SetPosition(rec.ap[n]);
    }
    for (uint32_t d = 0; d < m_d; ++d)
    {
        m_deviceMobility[d]->SetPosition(rec.device[d]);
    }
}

void
InxFactoryScenario::WriteTrace()
{
    // One record per interval (the RESET warm-up is t = 0), native little-endian:
    //   i64 RngRun, i64 t, i32 channel[N] (in use during the interval),
    //   f64 ap_xy[N][2], f64 device_xy[D][2] (m),
    //   f64 mean_power[D][N]  received large-scale power (path loss in the link's LOS state +
    //                         shadowing, no fading), W: what RefreshLargeScale computed,
    //   f64 link_power[D][N]  the power the MAC used this interval (mean x |h|^2 where faded), W,
    //   f64 full_sinr[D][K]   ns-3's full-occupancy SINR: own link power over (sum of co-channel
    //                         link powers, every AP busy all interval, + noise),
    // so link_power / mean_power is the fading |h|^2 and the twin can recompute everything.
    if (!m_trace)
    {
        return;
    }
    const int64_t head[2] = {static_cast<int64_t>(m_run), static_cast<int64_t>(m_t)};
    std::fwrite(head, sizeof(int64_t), 2, m_trace);
    std::vector<int32_t> ch(m_n);
    for (uint32_t n = 0; n < m_n; ++n)
    {
        ch[n] = static_cast<int32_t>(m_macs[n]->GetChannel());
    }
    std::fwrite(ch.data(), sizeof(int32_t), m_n, m_trace);
    std::vector<double> xy;
    xy.reserve(2 * static_cast<size_t>(m_d));
    for (uint32_t n = 0; n < m_n; ++n)
    {
        const Vector v = GetApPosition(n);
        xy.insert(xy.end(), {v.x, v.y});
    }
    for (uint32_t d = 0; d < m_d; ++d)
    {
        const Vector v = GetDevicePosition(d);
        xy.insert(xy.end(), {v.x, v.y});
    }
    std::fwrite(xy.data(), sizeof(double), xy.size(), m_trace);
    std::fwrite(m_meanPower.data(), sizeof(double), m_meanPower.size(), m_trace);
    for (uint32_t d = 0; d < m_d; ++d)
    {
        std::fwrite(m_channel->LinkPowerRow(d), sizeof(double), m_n, m_trace);
    }
    std::vector<double> sinr(m_k);
    for (uint32_t d = 0; d < m_d; ++d)
    {
        m_channel->GetFullLoadInterference(d, m_scratch);
        const double s = m_channel->GetLinkPower(d / m_m, d);
        for (uint32_t k = 0; k < m_k; ++k)
        {
            sinr[k] = s / (m_scratch[k] + m_noiseW);
        }
        std::fwrite(sinr.data(), sizeof(double), m_k, m_trace);
    }
    std::fflush(m_trace);
}

void
InxFactoryScenario::RefreshLargeScale()
{
    NS_LOG_FUNCTION(this);
    // Path loss in each link's LOS state plus shadowing, from the InF models: all D x N links in
    // one call (identical to CalcRxPower per link, without its per-link objects).
    m_loss->CalcRxPowerMatrix(m_p.tx_power_dbm, m_apMobility, m_deviceMobility,
                              m_meanPower.data());
    m_restRowsCurrent = false; // new means (and faded sets): SetIntervalPowers copies them
    for (double& p : m_meanPower)
    {
        p = fedmarl::DbmToW(p);
    }
    // Faded sets (the twin's truncated mode): the strongest interferers of each device.
    if (m_nFaded < m_n - 1)
    {
        std::vector<uint32_t> idx;
        for (uint32_t d = 0; d < m_d; ++d)
        {
            const uint32_t own = d / m_m;
            const double* row = m_meanPower.data() + static_cast<size_t>(d) * m_n;
            idx.resize(m_n - 1);
            for (uint32_t j = 0, q = 0; j < m_n; ++j)
            {
                if (j != own)
                {
                    idx[q++] = j;
                }
            }
            std::nth_element(idx.begin(),
                             idx.begin() + m_nFaded,
                             idx.end(),
                             [row](uint32_t a, uint32_t b) {
                                 return row[a] > row[b] || (row[a] == row[b] && a < b);
                             });
            m_faded[d].assign(idx.begin(), idx.begin() + m_nFaded);
            std::sort(m_faded[d].begin(), m_faded[d].end());
        }
    }
    // Coupling graph: large-scale mean interference from AP i at subnetwork n's devices.
    for (uint32_t n = 0; n < m_n; ++n)
    {
        float* out = m_coupling.data() + static_cast<size_t>(n) * m_n;
        for (uint32_t i = 0; i < m_n; ++i)
        {
            double sum = 0.0;
            for (uint32_t m = 0; m < m_m; ++m)
            {
                sum += m_meanPower[static_cast<size_t>(n * m_m + m) * m_n + i];
            }
            out[i] = i == n ? 0.0f : static_cast<float>(sum / m_m);
        }
    }
}

void
InxFactoryScenario::SetIntervalPowers()
{
    const bool exact = m_nFaded >= m_n - 1;
    for (uint32_t d = 0; d < m_d; ++d)
    {
        const uint32_t own = d / m_m;
        const double* mean = m_meanPower.data() + static_cast<size_t>(d) * m_n;
        double* row = m_channel->LinkPowerRow(d);
        if (exact)
        {
            for (uint32_t j = 0; j < m_n; ++j)
            {
                row[j] = mean[j] * m_fading->Power(j, d);
            }
        }
        else
        {
            // The links outside the faded set carry their mean power, which changes only at a
            // refresh: copied then, and left alone on the other steps (the faded set is the same
            // until the next refresh, so this step overwrites exactly what the last one wrote).
            if (!m_restRowsCurrent)
            {
                std::memcpy(row, mean, sizeof(double) * m_n);
            }
            row[own] = mean[own] * m_fading->Power(own, d);
            for (uint32_t j : m_faded[d])
            {
                row[j] = mean[j] * m_fading->Power(j, d);
            }
        }
    }
    m_restRowsCurrent = true;
}

void
InxFactoryScenario::Reset(uint64_t run, const InxFactoryArrays& out)
{
    NS_LOG_FUNCTION(this << run);
    const auto wall0 = std::chrono::steady_clock::now();
    Teardown();
    RngSeedManager::SetSeed(m_rngSeed);
    RngSeedManager::SetRun(run);
    m_run = run;
    ++m_episodes;
    m_t = 0;
    Build();
    m_started = true;
    if (!m_drive.empty())
    {
        m_driveEpisode = static_cast<uint32_t>((m_episodes - 1) % m_drive.size());
        ApplyDrive(0, nullptr);
    }
    RefreshLargeScale();
    SetIntervalPowers();
    // Before any traffic the devices know each channel from reference signals of all APs (busy
    // fraction 1): that sizes the first TBs of the warm-up interval.
    std::vector<uint32_t> channels(m_n);
    for (uint32_t n = 0; n < m_n; ++n)
    {
        channels[n] = m_macs[n]->GetChannel();
    }
    m_channel->BeginInterval(Simulator::Now(), Simulator::Now() + m_interval, channels);
    std::vector<double> sinr(m_k);
    for (uint32_t d = 0; d < m_d; ++d)
    {
        m_channel->GetFullLoadInterference(d, m_scratch);
        const double s = m_channel->GetLinkPower(d / m_m, d);
        for (uint32_t k = 0; k < m_k; ++k)
        {
            sinr[k] = s / (m_scratch[k] + m_noiseW);
        }
        m_macs[d / m_m]->SetMeasuredSinr(d % m_m, sinr);
    }
    const uint64_t events0 = Simulator::GetEventCount();
    InxMacHelper::RunInterval(m_channel, m_macs, m_interval);
    const double wall =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - wall0).count();
    Fill(out, std::vector<uint8_t>(m_n, 0), Simulator::GetEventCount() - events0, wall);
    WriteTrace();
}

void
InxFactoryScenario::Step(std::span<const int32_t> actions, const InxFactoryArrays& out)
{
    if (!m_started)
    {
        throw std::logic_error("STEP before the first RESET: reset first");
    }
    if (EpisodeOver())
    {
        throw std::logic_error("episode is over: reset (" + std::to_string(m_p.episode_steps) +
                               " steps done)");
    }
    if (actions.size() != m_n)
    {
        throw std::invalid_argument("expected " + std::to_string(m_n) + " actions, got " +
                                    std::to_string(actions.size()));
    }
    for (uint32_t n = 0; n < m_n; ++n)
    {
        if (actions[n] < 0 || static_cast<uint32_t>(actions[n]) >= m_k)
        {
            throw std::invalid_argument("action of agent " + std::to_string(n) + " (subnet_" +
                                        std::to_string(n) + ") is " + std::to_string(actions[n]) +
                                        ", not a channel in [0, " + std::to_string(m_k - 1) + "]");
        }
    }
    const auto wall0 = std::chrono::steady_clock::now();
    std::vector<uint8_t> switched(m_n);
    const auto every = static_cast<uint32_t>(m_p.large_scale_update_steps);
    if (!m_drive.empty())
    {
        // Trace-driven: the agents' requests are not used; the file says what happened.
        ++m_t;
        ApplyDrive(m_t, &switched);
        RefreshLargeScale(); // positions may change every step
    }
    else
    {
    for (uint32_t n = 0; n < m_n; ++n)
    {
        switched[n] = m_macs[n]->ApplyChannelRequest(static_cast<uint32_t>(actions[n])) ? 1 : 0;
    }
    ++m_t;
    }
    if (m_drive.empty() && m_t % every == 0)
    {
        m_mobility->Step(every * m_interval.GetSeconds());
        RefreshLargeScale();
    }
    m_fading->Advance();
    SetIntervalPowers();
    NS_ASSERT_MSG(Simulator::Now() == m_interval * m_t, "the clock left the interval grid");
    const uint64_t events0 = Simulator::GetEventCount();
    InxMacHelper::RunInterval(m_channel, m_macs, Simulator::Now() + m_interval);
    const double wall =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - wall0).count();
    Fill(out, switched, Simulator::GetEventCount() - events0, wall);
    WriteTrace();
}

void
InxFactoryScenario::Fill(const InxFactoryArrays& out,
                         const std::vector<uint8_t>& switched,
                         uint64_t events,
                         double wallSeconds)
{
    const double seconds = m_interval.GetSeconds();
    const double capacity = m_p.channel_bandwidth_hz * seconds; // channel uses per interval
    std::fill(out.delayHist.begin(), out.delayHist.end(), 0);
    double tbs = 0.0;
    double created = 0.0;
    double delivered = 0.0;
    double lost = 0.0;
    double dropped = 0.0;
    std::vector<double> x(static_cast<size_t>(m_m) * m_k); // per-channel obs values [m][k]
    std::vector<double> rates(m_m);
    std::vector<double> column(m_m);
    for (uint32_t n = 0; n < m_n; ++n)
    {
        const auto& mac = m_macs[n];
        const uint32_t ch = mac->GetChannel();
        for (uint32_t m = 0; m < m_m; ++m)
        {
            const uint32_t d = n * m_m + m;
            const auto& st = mac->GetDeviceStats(m);
            const auto& meas = mac->GetMeasuredInterference(m);
            const auto& sinrK = mac->GetMeasuredSinr(m);
            for (uint32_t k = 0; k < m_k; ++k)
            {
                out.sinrPerChannel[static_cast<size_t>(d) * m_k + k] = static_cast<float>(sinrK[k]);
                x[m * m_k + k] = m_p.obs_quantity == "sinr"
                                     ? 10.0 * std::log10(sinrK[k])
                                     : 10.0 * std::log10(meas[k] + m_noiseW) + 30.0;
            }
            out.sinr[d] = static_cast<float>(sinrK[ch]);
            out.interference[d] = static_cast<float>(meas[ch]);
            out.rateShannon[d] = static_cast<float>(fedmarl::ShannonSe(sinrK[ch]));
            // Real packet throughput: payload delivered in the interval per channel use.
            rates[m] = st.deliveredBits / capacity;
            out.rateFbl[d] = static_cast<float>(rates[m]);
            out.delivered[d] = static_cast<int32_t>(st.delivered);
            out.lost[d] = static_cast<int32_t>(st.lost);
            out.dropped[d] = static_cast<int32_t>(st.dropped);
            out.queue[d] = static_cast<int32_t>(st.queue);
            out.delaySum[d] = static_cast<float>(st.delaySum);
            out.delayMax[d] = static_cast<float>(st.delayMax);
            created += st.created;
            delivered += st.delivered;
            lost += st.lost;
            dropped += st.dropped;
        }
        out.reward[n] = static_cast<float>(
            fedmarl::RewardEq13(rates, m_p.r_min, m_p.lambda_rate, m_p.lambda_penalty));
        out.channel[n] = static_cast<int32_t>(ch);
        out.switched[n] = switched[n];
        out.airtime[n] = static_cast<float>(mac->GetAirtime().GetSeconds() / seconds);
        const auto& hist = mac->GetDelayHistogram();
        for (uint32_t b = 0; b < hist.size(); ++b)
        {
            out.delayHist[b] += static_cast<int32_t>(hist[b]);
        }
        tbs += mac->GetNTbs();

        // Observation, as twin.observation(): per channel over the devices, clipped.
        float* obs = out.obs.data() + static_cast<size_t>(n) * m_w;
        for (uint32_t k = 0; k < m_k; ++k)
        {
            for (uint32_t m = 0; m < m_m; ++m)
            {
                column[m] = x[m * m_k + k];
            }
            auto put = [](float* dst, double v) { *dst = static_cast<float>(std::clamp(v, -150.0, 150.0)); };
            const std::string& how = m_p.obs_reduce;
            if (how == "full")
            {
                for (uint32_t m = 0; m < m_m; ++m)
                {
                    put(obs + k * m_m + m, column[m]); // channel-major, devices inside
                }
            }
            else if (how == "min")
            {
                put(obs + k, *std::min_element(column.begin(), column.end()));
            }
            else if (how == "max")
            {
                put(obs + k, *std::max_element(column.begin(), column.end()));
            }
            else if (how == "mean")
            {
                put(obs + k, std::accumulate(column.begin(), column.end(), 0.0) / m_m);
            }
            else
            {
                put(obs + k, Median(column));
            }
        }
    }
    std::copy(m_coupling.begin(), m_coupling.end(), out.coupling.begin());
    std::fill(out.metrics.begin(), out.metrics.end(), 0.0);
    out.metrics[SIM_TIME] = Simulator::Now().GetSeconds();
    out.metrics[STEP] = m_t;
    out.metrics[EPISODES] = static_cast<double>(m_episodes);
    out.metrics[RNG_RUN] = static_cast<double>(m_run);
    out.metrics[EVENTS] = static_cast<double>(events);
    out.metrics[TBS] = tbs;
    out.metrics[CREATED] = created;
    out.metrics[DELIVERED] = delivered;
    out.metrics[LOST] = lost;
    out.metrics[DROPPED] = dropped;
    out.metrics[WALL_SECONDS] = wallSeconds;
    for (uint32_t n = 0; n < m_n; ++n)
    {
        // Robots move only at large-scale refreshes, so this is also the interval's end.
        const Vector v = GetApPosition(n);
        out.positions[2 * n] = static_cast<float>(v.x);
        out.positions[2 * n + 1] = static_cast<float>(v.y);
    }
}

uint32_t
InxFactoryScenario::GetStep() const
{
    return m_t;
}

bool
InxFactoryScenario::EpisodeOver() const
{
    return m_t >= m_p.episode_steps;
}

bool
InxFactoryScenario::Started() const
{
    return m_started;
}

const fedmarl::InxFactoryParams&
InxFactoryScenario::GetParams() const
{
    return m_p;
}

uint32_t
InxFactoryScenario::GetN() const
{
    return m_n;
}

uint32_t
InxFactoryScenario::GetM() const
{
    return m_m;
}

uint32_t
InxFactoryScenario::GetK() const
{
    return m_k;
}

uint32_t
InxFactoryScenario::GetW() const
{
    return m_w;
}

double
InxFactoryScenario::GetNoisePower() const
{
    return m_noiseW;
}

double
InxFactoryScenario::GetSignalPower(uint32_t device) const
{
    return m_channel->GetLinkPower(device / m_m, device);
}

Vector
InxFactoryScenario::GetApPosition(uint32_t ap) const
{
    return m_apMobility.at(ap)->GetPosition();
}

Vector
InxFactoryScenario::GetDevicePosition(uint32_t device) const
{
    return m_deviceMobility.at(device)->GetPosition();
}

const std::vector<Ptr<InxSubnetworkMac>>&
InxFactoryScenario::GetMacs() const
{
    return m_macs;
}

Time
InxFactoryScenario::GetInterval() const
{
    return m_interval;
}

} // namespace ns3
