/*
 * fedmarl-ns3: the edge-offload scenario at packet level.
 * SPDX-License-Identifier: GPL-2.0-only
 */

#include "edge-offload-scenario.h"

#include "cpu-energy-model.h"
#include "edge-radio-energy-model.h"
#include "edge-link-loss-model.h"
#include "inf-channel.h"
#include "three-gpp-indoor-factory-channel-condition-model.h"
#include "three-gpp-indoor-factory-propagation-loss-model.h"

#include "ns3/basic-energy-source-helper.h"
#include "ns3/basic-energy-source.h"
#include "ns3/boolean.h"
#include "ns3/config.h"
#include "factory-alley-mobility.h"

#include "ns3/constant-position-mobility-model.h"
#include "ns3/double.h"
#include "ns3/he-phy.h"
#include "ns3/header.h"
#include "ns3/ideal-wifi-manager.h"
#include "ns3/table-based-error-rate-model.h"
#include "ns3/inet-socket-address.h"
#include "ns3/internet-stack-helper.h"
#include "ns3/ipv4-address-helper.h"
#include "ns3/ipv4.h"
#include "ns3/log.h"
#include "ns3/mobility-helper.h"
#include "ns3/neighbor-cache-helper.h"
#include "ns3/node.h"
#include "ns3/pointer.h"
#include "ns3/position-allocator.h"
#include "ns3/propagation-delay-model.h"
#include "ns3/qos-txop.h"
#include "ns3/random-variable-stream.h"
#include "ns3/rng-seed-manager.h"
#include "ns3/simulator.h"
#include "ns3/socket.h"
#include "ns3/string.h"
#include "ns3/udp-socket-factory.h"
#include "ns3/uinteger.h"
#include "ns3/wifi-helper.h"
#include "ns3/wifi-mac-queue.h"
#include "ns3/wifi-mac-queue-scheduler.h"
#include "ns3/wifi-mac.h"
#include "ns3/wifi-mpdu.h"
#include "ns3/wifi-net-device.h"
#include "ns3/wifi-phy.h"
#include "ns3/wifi-psdu.h"
#include "ns3/wifi-remote-station-manager.h"
#include "ns3/yans-wifi-channel.h"
#include "ns3/yans-wifi-helper.h"

#include <algorithm>
#include <chrono>
#include <limits>
#include <cmath>
#include <numeric>
#include <stdexcept>
#include <string>

namespace ns3
{

NS_LOG_COMPONENT_DEFINE("EdgeOffloadScenario");

/**
 * @ingroup fedmarl
 * The 12-byte header at the start of every task and result datagram: task id (per user), the
 * datagram's index in the task and the task's datagram count (network byte order).
 */
class EdgeTaskHeader : public Header
{
  public:
    static TypeId GetTypeId()
    {
        static TypeId tid = TypeId("ns3::EdgeTaskHeader")
                                .SetParent<Header>()
                                .SetGroupName("Applications")
                                .AddConstructor<EdgeTaskHeader>();
        return tid;
    }

    TypeId GetInstanceTypeId() const override
    {
        return GetTypeId();
    }

    uint32_t GetSerializedSize() const override
    {
        return 12;
    }

    void Serialize(Buffer::Iterator start) const override
    {
        start.WriteHtonU32(taskId);
        start.WriteHtonU32(seq);
        start.WriteHtonU32(count);
    }

    uint32_t Deserialize(Buffer::Iterator start) override
    {
        taskId = start.ReadNtohU32();
        seq = start.ReadNtohU32();
        count = start.ReadNtohU32();
        return 12;
    }

    void Print(std::ostream& os) const override
    {
        os << "task=" << taskId << " seq=" << seq << "/" << count;
    }

    uint32_t taskId{0}; //!< task id (per user)
    uint32_t seq{0};    //!< datagram index
    uint32_t count{1};  //!< datagrams of the task
};

NS_OBJECT_ENSURE_REGISTERED(EdgeTaskHeader);

namespace
{

// Fixed stream indices: an episode's random variables draw from streams that depend on
// (RngSeed, RngRun, index) only, so RESET with the same run replays the episode exactly.
constexpr int64_t kStreamTasks = 0;        // arrivals (1)
constexpr int64_t kStreamInitPos = 1;      // initial positions (3)
constexpr int64_t kStreamHighBs = 10;      // user-AP shadow field (2) + LOS field (2)
constexpr int64_t kStreamLowBs = 20;       // user-user (4)
constexpr int64_t kStreamHighHigh = 30;    // AP-AP (4)
constexpr int64_t kStreamFading = 40;      // AR(1) innovations (1)
constexpr int64_t kStreamMobility = 100;   // random waypoint (5 per user, shared allocator)
                                           // or the alley manager (1)
constexpr int64_t kStreamWifi = 1'000'000; // Wi-Fi (a few per device)

constexpr uint64_t kMaxRngSeed = 4294944442ULL;
constexpr uint16_t kTaskPort = 9;
constexpr uint16_t kResultPort = 10;

uint64_t
Key(uint32_t a, uint32_t b)
{
    return (static_cast<uint64_t>(a) << 32) | b;
}

/// The InF low-BS counterpart of a high-BS clutter (user-user links).
std::string
LowBsScenario(const std::string& high)
{
    return high == "DH" ? "DL" : "SL";
}

Ptr<ThreeGppIndoorFactoryPropagationLossModel>
MakeInf(const std::string& scenario, double fcGhz, double shadowCorr, int64_t stream)
{
    auto condition = CreateObject<ThreeGppIndoorFactoryChannelConditionModel>();
    condition->SetAttribute("Scenario", StringValue(scenario));
    condition->AssignStreams(stream + 2);
    auto loss = CreateObject<ThreeGppIndoorFactoryPropagationLossModel>();
    loss->SetAttribute("Frequency", DoubleValue(fcGhz * 1e9));
    loss->SetAttribute("Scenario", StringValue(scenario));
    loss->SetAttribute("ShadowCorrelationDistance", DoubleValue(shadowCorr));
    loss->SetChannelConditionModel(condition);
    loss->AssignStreams(stream);
    return loss;
}

WifiPhy::ChannelTuple
ChannelOf(uint32_t k)
{
    return WifiPhy::ChannelTuple{static_cast<uint8_t>(1 + 4 * k), 20, WIFI_PHY_BAND_6GHZ, 0};
}

std::string
ChannelSettings(uint32_t k)
{
    return "{" + std::to_string(1 + 4 * k) + ", 20, BAND_6GHZ, 0}";
}

bool
IsBusy(WifiPhyState s)
{
    return s == WifiPhyState::CCA_BUSY || s == WifiPhyState::RX || s == WifiPhyState::TX;
}

double
Overlap(Time a0, Time a1, Time b0, Time b1)
{
    const Time lo = std::max(a0, b0);
    const Time hi = std::min(a1, b1);
    return hi > lo ? (hi - lo).GetSeconds() : 0.0;
}

} // namespace

EdgeOffloadScenario::EdgeOffloadScenario(const fedmarl::EdgeOffloadParams& params)
    : m_p(params),
      m_u(static_cast<uint32_t>(params.n_users)),
      m_e(static_cast<uint32_t>(params.n_servers)),
      m_k(static_cast<uint32_t>(params.n_channels)),
      m_f(static_cast<uint32_t>(params.NumCpuLevels())),
      m_w(static_cast<uint32_t>(params.ObsWidth())),
      m_levelsHz(params.CpuLevelsHz()),
      m_noiseDbm(-174.0 + 10.0 * std::log10(params.channel_bandwidth_hz) +
                 params.noise_figure_db),
      m_rho(fedmarl::FadingRho(params.speed, params.carrier_freq_ghz * 1e9, params.interval_s)),
      m_rngSeed(static_cast<uint32_t>(1 + static_cast<uint64_t>(params.seed) % kMaxRngSeed))
{
    m_p.ValidateRelations();
    m_interval = TimeStep(std::llround(params.interval_s *
                                       static_cast<double>(Seconds(1).GetTimeStep())));
    // A datagram waits in the MAC as long as its task may live (ns-3's default 500 ms would
    // drop eMBB datagrams under contention); expiry is re-sent anyway.
    Config::SetDefault("ns3::WifiMacQueue::MaxDelay", TimeValue(Seconds(200)));
}

EdgeOffloadScenario::~EdgeOffloadScenario()
{
    Teardown();
}

void
EdgeOffloadScenario::Teardown()
{
    for (auto& u : m_users)
    {
        u.cpuEvent.Cancel();
        if (u.sock)
        {
            u.sock->SetRecvCallback(MakeNullCallback<void, Ptr<Socket>>());
            u.sock->Close();
        }
    }
    for (auto& a : m_aps)
    {
        a.cpuEvent.Cancel();
        if (a.recvSock)
        {
            a.recvSock->SetRecvCallback(MakeNullCallback<void, Ptr<Socket>>());
            a.recvSock->Close();
        }
        for (auto& s : a.sendSock)
        {
            s->Close();
        }
    }
    m_users.clear();
    m_aps.clear();
    m_userByIp.clear();
    if (m_loss)
    {
        m_loss->Dispose();
        m_loss = nullptr;
    }
    m_channel = nullptr;
    m_uniform = nullptr;
    if (m_alleys)
    {
        m_alleys->Dispose(); // the users' models point back at it: break the cycle
        m_alleys = nullptr;
    }
    Simulator::Destroy();
    m_started = false;
}

void
EdgeOffloadScenario::Build()
{
    const double L = m_p.hall_length;
    const double Wh = m_p.hall_width;
    m_users.assign(m_u, User{});
    m_aps.assign(m_e, Ap{});
    NodeContainer userNodes;
    userNodes.Create(m_u);
    NodeContainer apNodes;
    apNodes.Create(m_e);

    // --- mobility
    auto initAlloc = CreateObject<RandomBoxPositionAllocator>();
    auto wayAlloc = CreateObject<RandomBoxPositionAllocator>();
    for (auto& alloc : {initAlloc, wayAlloc})
    {
        auto x = CreateObject<UniformRandomVariable>();
        x->SetAttribute("Min", DoubleValue(0.0));
        x->SetAttribute("Max", DoubleValue(L));
        auto y = CreateObject<UniformRandomVariable>();
        y->SetAttribute("Min", DoubleValue(0.0));
        y->SetAttribute("Max", DoubleValue(Wh));
        auto z = CreateObject<ConstantRandomVariable>();
        z->SetAttribute("Constant", DoubleValue(m_p.user_height));
        alloc->SetX(x);
        alloc->SetY(y);
        alloc->SetZ(z);
    }
    initAlloc->AssignStreams(kStreamInitPos);
    MobilityHelper mh;
    mh.SetPositionAllocator(initAlloc);
    if (m_p.mobility == "alleys")
    {
        // The factory robots' model (ns3-scenarios/mobility/) on one tile (ValidateRelations
        // checked the hall and the lane capacity): placed on random lane slots, stepped by
        // Step() every kLargeScaleEvery intervals, like the twin's AlleyMobility (its own
        // periodic step is off).
        m_alleys = CreateObject<FactoryAlleyMobilityManager>();
        m_alleys->SetAttribute("TilesX", UintegerValue(1));
        m_alleys->SetAttribute("TilesY", UintegerValue(1));
        m_alleys->SetAttribute("Speed", DoubleValue(m_p.speed));
        m_alleys->SetAttribute("MinSeparation", DoubleValue(fedmarl::kAlleyMinSeparation));
        m_alleys->SetAttribute("UpdateInterval", TimeValue(Time(0)));
        m_alleys->AssignStreams(kStreamMobility);
        m_alleys->Install(userNodes);
        for (uint32_t u = 0; u < m_u; ++u)
        {
            m_alleys->GetModel(u)->SetAttribute("Height", DoubleValue(m_p.user_height));
        }
    }
    else if (m_p.speed > 0.0)
    {
        auto speed = CreateObject<ConstantRandomVariable>();
        speed->SetAttribute("Constant", DoubleValue(m_p.speed));
        auto pause = CreateObject<ConstantRandomVariable>();
        pause->SetAttribute("Constant", DoubleValue(0.0));
        mh.SetMobilityModel("ns3::RandomWaypointMobilityModel",
                            "Speed", PointerValue(speed),
                            "Pause", PointerValue(pause),
                            "PositionAllocator", PointerValue(wayAlloc));
    }
    else
    {
        mh.SetMobilityModel("ns3::ConstantPositionMobilityModel");
    }
    if (!m_alleys)
    {
        mh.Install(userNodes);
        mh.AssignStreams(userNodes, kStreamMobility);
    }
    for (uint32_t e = 0; e < m_e; ++e)
    {
        auto m = CreateObject<ConstantPositionMobilityModel>();
        m->SetPosition(Vector(L * (e + 0.5) / m_e, Wh / 2.0, m_p.ap_height));
        apNodes.Get(e)->AggregateObject(m);
    }

    // --- channel
    const std::string hi = m_p.InfScenario();
    m_loss = CreateObject<EdgeLinkLossModel>();
    m_loss->Configure(MakeInf(hi, m_p.carrier_freq_ghz, m_p.shadow_corr_distance, kStreamHighBs),
                      MakeInf(LowBsScenario(hi), m_p.carrier_freq_ghz, m_p.shadow_corr_distance,
                              kStreamLowBs),
                      MakeInf("HH", m_p.carrier_freq_ghz, m_p.shadow_corr_distance,
                              kStreamHighHigh),
                      m_rho,
                      kStreamFading);
    for (uint32_t u = 0; u < m_u; ++u)
    {
        m_users[u].node = userNodes.Get(u);
        m_users[u].mob = userNodes.Get(u)->GetObject<MobilityModel>();
        m_loss->AddNode(m_users[u].mob, u, false);
    }
    for (uint32_t e = 0; e < m_e; ++e)
    {
        m_aps[e].node = apNodes.Get(e);
        m_loss->AddNode(apNodes.Get(e)->GetObject<MobilityModel>(), m_u + e, true);
    }
    m_channel = CreateObject<YansWifiChannel>();
    m_channel->SetPropagationLossModel(m_loss);
    m_channel->SetPropagationDelayModel(CreateObject<ConstantSpeedPropagationDelayModel>());

    // --- Wi-Fi
    WifiHelper wifi;
    wifi.SetStandard(WIFI_STANDARD_80211ax);
    wifi.SetRemoteStationManager("ns3::IdealWifiManager");
    // HE data symbols with the 800 ns guard interval (ns-3's HeConfiguration default is 3.2 us):
    // the model's rates 8.6 .. 143.4 Mbit/s and the contract's MCS table are for GI 800 ns.
    wifi.ConfigHeOptions("GuardInterval", TimeValue(NanoSeconds(800)));
    YansWifiPhyHelper phy;
    phy.SetChannel(m_channel);
    phy.Set("TxPowerStart", DoubleValue(m_p.tx_power_dbm));
    phy.Set("TxPowerEnd", DoubleValue(m_p.tx_power_dbm));
    phy.Set("TxPowerLevels", UintegerValue(1));
    phy.Set("RxNoiseFigure", DoubleValue(m_p.noise_figure_db));
    WifiMacHelper mac;
    mac.SetType("ns3::AdhocWifiMac", "BE_MaxAmsduSize", UintegerValue(0));
    phy.Set("ChannelSettings", StringValue(ChannelSettings(0)));
    NetDeviceContainer userDevs = wifi.Install(phy, mac, userNodes);
    NetDeviceContainer apDevs;
    for (uint32_t e = 0; e < m_e; ++e)
    {
        for (uint32_t k = 0; k < m_k; ++k)
        {
            phy.Set("ChannelSettings", StringValue(ChannelSettings(k)));
            NetDeviceContainer d = wifi.Install(phy, mac, apNodes.Get(e));
            apDevs.Add(d);
            m_aps[e].devs.push_back(DynamicCast<WifiNetDevice>(d.Get(0)));
        }
    }
    NetDeviceContainer all(userDevs, apDevs);
    WifiHelper::AssignStreams(all, kStreamWifi);

    // --- IP, static ARP
    InternetStackHelper internet;
    internet.Install(userNodes);
    internet.Install(apNodes);
    Ipv4AddressHelper ipv4;
    ipv4.SetBase("10.0.0.0", "255.0.0.0");
    Ipv4InterfaceContainer userIfs = ipv4.Assign(userDevs);
    Ipv4InterfaceContainer apIfs = ipv4.Assign(apDevs);
    NeighborCacheHelper neighbors;
    neighbors.PopulateNeighborCache();

    // --- energy
    BasicEnergySourceHelper source;
    source.Set("BasicEnergySourceInitialEnergyJ", DoubleValue(m_initialEnergyJ));
    source.Set("BasicEnergySupplyVoltageV", DoubleValue(m_p.radio_voltage_v));
    energy::EnergySourceContainer sources = source.Install(userNodes);

    // --- users
    for (uint32_t u = 0; u < m_u; ++u)
    {
        User& user = m_users[u];
        user.dev = DynamicCast<WifiNetDevice>(userDevs.Get(u));
        user.peerSeen.assign(static_cast<size_t>(m_e) * m_k, 0);
        user.addr = userIfs.GetAddress(u);
        m_userByIp[user.addr.Get()] = u;
        auto src = sources.Get(u);
        user.source = DynamicCast<energy::BasicEnergySource>(src);
        // What WifiRadioEnergyModelHelper::Install does, with our subclass (no per-change
        // switch-off event; edge-radio-energy-model.h). Plan: idle and CCA-busy current 0;
        // ours: switching and sleep 0 too (the twin has no such states).
        auto radio = CreateObject<energy::EdgeWifiRadioEnergyModel>();
        radio->SetTxCurrentA(m_p.radio_tx_current_a);
        radio->SetRxCurrentA(m_p.radio_rx_current_a);
        radio->SetIdleCurrentA(0.0);
        radio->SetCcaBusyCurrentA(0.0);
        radio->SetSwitchingCurrentA(0.0);
        radio->SetSleepCurrentA(0.0);
        radio->SetEnergySource(src);
        src->AppendDeviceEnergyModel(radio);
        user.dev->GetPhy()->RegisterListener(radio->GetPhyListener());
        user.radio = radio;
        user.cpu = CreateObject<energy::CpuEnergyModel>();
        user.cpu->SetAttribute("Kappa", DoubleValue(m_p.kappa));
        user.cpu->SetAttribute("IdlePowerW", DoubleValue(m_p.cpu_idle_power_w));
        user.cpu->SetFrequency(m_levelsHz[0]);
        user.cpu->SetEnergySource(src);
        src->AppendDeviceEnergyModel(user.cpu);
        user.sock = Socket::CreateSocket(user.node, UdpSocketFactory::GetTypeId());
        user.sock->Bind(InetSocketAddress(Ipv4Address::GetAny(), kResultPort));
        user.sock->SetRecvCallback(
            Callback<void, Ptr<Socket>>([this, u](Ptr<Socket> s) { OnUserRecv(u, s); }));
        Ptr<WifiMac> m = user.dev->GetMac();
        m->TraceConnectWithoutContext(
            "AckedMpdu",
            Callback<void, Ptr<const WifiMpdu>>(
                [this, u](Ptr<const WifiMpdu> mpdu) { OnUserAcked(u, mpdu); }));
        m->TraceConnectWithoutContext(
            "DroppedMpdu",
            Callback<void, WifiMacDropReason, Ptr<const WifiMpdu>>(
                [this, u](WifiMacDropReason r, Ptr<const WifiMpdu> mpdu) {
                    OnUserDropped(u, r, mpdu);
                }));
        user.dev->GetPhy()->TraceConnectWithoutContext(
            "PhyTxPsduBegin",
            Callback<void, WifiConstPsduMap, WifiTxVector, double>(
                [this, u](WifiConstPsduMap psdus, WifiTxVector, double) {
                    uint64_t bytes = 0;
                    uint32_t retries = 0;
                    for (const auto& [id, psdu] : psdus)
                    {
                        bytes += psdu->GetSize();
                        for (const auto& mpdu : *psdu)
                        {
                            if (mpdu->GetHeader().IsQosData() && mpdu->GetHeader().IsRetry())
                            {
                                ++retries;
                            }
                        }
                    }
                    OnUserTxPsdu(u, bytes, retries);
                }));
    }

    // --- APs
    for (uint32_t e = 0; e < m_e; ++e)
    {
        Ap& ap = m_aps[e];
        ap.busy.assign(m_k, 0.0);
        ap.pending.assign(m_k, {});
        for (uint32_t k = 0; k < m_k; ++k)
        {
            ap.addr.push_back(apIfs.GetAddress(e * m_k + k));
            auto s = Socket::CreateSocket(ap.node, UdpSocketFactory::GetTypeId());
            s->Bind();
            s->BindToNetDevice(ap.devs[k]);
            ap.sendSock.push_back(s);
            Ptr<WifiMac> m = ap.devs[k]->GetMac();
            m->TraceConnectWithoutContext(
                "AckedMpdu",
                Callback<void, Ptr<const WifiMpdu>>(
                    [this, e](Ptr<const WifiMpdu> mpdu) { OnApAcked(e, mpdu); }));
            m->TraceConnectWithoutContext(
                "DroppedMpdu",
                Callback<void, WifiMacDropReason, Ptr<const WifiMpdu>>(
                    [this, e](WifiMacDropReason r, Ptr<const WifiMpdu> mpdu) {
                        OnApDropped(e, r, mpdu);
                    }));
            ap.devs[k]->GetPhy()->GetState()->TraceConnectWithoutContext(
                "State",
                Callback<void, Time, Time, WifiPhyState>(
                    [this, e, k](Time start, Time duration, WifiPhyState state) {
                        OnApState(e, k, start, duration, state);
                    }));
        }
        ap.recvSock = Socket::CreateSocket(ap.node, UdpSocketFactory::GetTypeId());
        ap.recvSock->Bind(InetSocketAddress(Ipv4Address::GetAny(), kTaskPort));
        ap.recvSock->SetRecvCallback(
            Callback<void, Ptr<Socket>>([this, e](Ptr<Socket> s) { OnApRecv(e, s); }));
    }

    m_uniform = CreateObject<UniformRandomVariable>();
    m_uniform->SetStream(kStreamTasks);
    m_snrDb.assign(static_cast<size_t>(m_u) * m_e, 0.0);
    m_broadcast.assign(m_e, 0.0);
    m_busyLast.assign(m_k, 0.0);
}

void
EdgeOffloadScenario::RefreshGains()
{
    // Fading every interval; path loss, LOS and shadowing every kLargeScaleEvery intervals
    // (at t = 0, 10, 20, ...: the twin's LARGE_SCALE_EVERY; 15 cm of travel at 1.5 m/s).
    m_loss->NewInterval(m_t % kLargeScaleEvery == 0);
    for (uint32_t u = 0; u < m_u; ++u)
    {
        for (uint32_t e = 0; e < m_e; ++e)
        {
            m_snrDb[u * m_e + e] = m_p.tx_power_dbm + m_loss->GetGainDb(u, m_u + e) - m_noiseDbm;
        }
    }
}

void
EdgeOffloadScenario::Reset(uint64_t run, const EdgeOffloadArrays& out)
{
    const auto wall0 = std::chrono::steady_clock::now();
    Teardown();
    RngSeedManager::SetSeed(m_rngSeed);
    RngSeedManager::SetRun(run);
    m_run = run;
    ++m_episodes;
    m_t = 0;
    Build();
    m_started = true;
    m_t0 = Simulator::Now();
    // Let the devices initialise (PHY, MAC, channel access) at t = 0 before the first interval.
    Simulator::Stop(Time(0));
    Simulator::Run();
    RefreshGains();
    DrawArrivals(); // the first interval's
    BeginInterval(); // zero counters
    const double wall =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - wall0).count();
    EndInterval(out, 0, wall);
}

void
EdgeOffloadScenario::BeginInterval()
{
    m_t0 = Simulator::Now();
    m_counters.fill(0.0);
    for (auto& user : m_users)
    {
        user.created.fill(0);
        user.done.fill(0);
        user.late.fill(0);
        user.latSum.fill(0.0);
        user.latMax.fill(0.0);
        user.latOverDeadline = 0.0;
        user.bitsDone = user.uplinkBits = user.airBytes = 0.0;
        user.offloaded = user.retries = user.lost = 0;
        user.e0Cpu = user.cpu->GetTotalEnergyConsumption();
        user.e0Radio = user.radio->GetTotalEnergyConsumption();
    }
    for (auto& ap : m_aps)
    {
        std::fill(ap.busy.begin(), ap.busy.end(), 0.0);
    }
}

void
EdgeOffloadScenario::Step(std::span<const int32_t> actions, const EdgeOffloadArrays& out)
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
    if (actions.size() != 3 * static_cast<size_t>(m_u))
    {
        throw std::invalid_argument("expected " + std::to_string(3 * m_u) + " action values, got " +
                                    std::to_string(actions.size()));
    }
    const uint32_t high[3] = {m_e, m_k - 1, m_f - 1};
    const char* what[3] = {"target", "channel", "cpu level"};
    for (uint32_t u = 0; u < m_u; ++u)
    {
        for (int c = 0; c < 3; ++c)
        {
            const int32_t a = actions[3 * u + c];
            if (a < 0 || static_cast<uint32_t>(a) > high[c])
            {
                throw std::invalid_argument("action of agent " + std::to_string(u) + " (user_" +
                                            std::to_string(u) + "): " + what[c] + " " +
                                            std::to_string(a) + " is not in [0, " +
                                            std::to_string(high[c]) + "]");
            }
        }
    }
    const auto wall0 = std::chrono::steady_clock::now();
    BeginInterval();
    for (uint32_t e = 0; e < m_e; ++e)
    {
        m_broadcast[e] = ServerBacklog(e); // shown one interval late
    }
    for (uint32_t u = 0; u < m_u; ++u)
    {
        ApplyAction(u,
                    static_cast<uint32_t>(actions[3 * u]),
                    static_cast<uint32_t>(actions[3 * u + 1]),
                    static_cast<uint32_t>(actions[3 * u + 2]));
    }
    ScheduleArrivals();
    const uint64_t events0 = Simulator::GetEventCount();
    Simulator::Stop(m_interval);
    Simulator::Run();
    ++m_t;
    NS_ASSERT_MSG(Simulator::Now() == m_interval * m_t, "the clock left the interval grid");
    SweepLate();
    const uint64_t events = Simulator::GetEventCount() - events0;
    // Outputs first (they describe this interval); the users then move (alleys: one step of
    // kLargeScaleEvery intervals, as the twin's _move) and the gains move to the next
    // interval's start, where the observation's SNR is taken.
    if (m_alleys && m_t % kLargeScaleEvery == 0)
    {
        m_alleys->Step(kLargeScaleEvery * m_interval.GetSeconds());
    }
    RefreshGains();
    const double wall =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - wall0).count();
    EndInterval(out, events, wall);
}

void
EdgeOffloadScenario::ApplyAction(uint32_t u, uint32_t target, uint32_t k, uint32_t f)
{
    User& user = m_users[u];
    user.target = target;
    user.wantChannel = k;
    if (k != user.channel && !user.switchPending)
    {
        user.switchPending = true;
        TrySwitch(u);
    }
    if (f != user.level)
    {
        const double oldHz = m_levelsHz[user.level];
        user.level = f;
        LocalReschedule(u, oldHz);
    }
    Pump(u);
}

void
EdgeOffloadScenario::TrySwitch(uint32_t u)
{
    // The switch happens at the first moment from the interval start on when the PHY neither
    // transmits nor receives and no SIFS response (Ack / BlockAck) can be due: ns-3 postpones
    // a switch during TX by itself, but a response the MAC scheduled SIFS after a reception
    // would then be sent while the PHY is switching (WifiPhy::Send asserts). Until then the
    // user keeps its old channel (and addresses new datagrams to it: Pump waits).
    User& user = m_users[u];
    if (user.wantChannel == user.channel)
    {
        user.switchPending = false;
        Pump(u);
        return;
    }
    Ptr<WifiPhy> phy = user.dev->GetPhy();
    Ptr<WifiPhyStateHelper> st = phy->GetState();
    const Time now = Simulator::Now();
    Time wait(0);
    if (st->IsStateTx() || st->IsStateRx() || st->IsStateSwitching())
    {
        wait = std::max(st->GetDelayUntilIdle(), NanoSeconds(1));
    }
    else
    {
        const Time guard = phy->GetSifs() + MicroSeconds(2);
        const Time sinceRx = now - st->GetLastRxEndTime();
        if (sinceRx < guard)
        {
            wait = guard - sinceRx;
        }
        // Nor while the response to our own last PPDU (Ack / BlockAck, SIFS after it) may
        // still come: the MAC's response timeout is SIFS + slot + the response's preamble.
        const Time respGuard = phy->GetSifs() + phy->GetSlot() + MicroSeconds(60);
        const Time sinceTx = now - st->GetLastTime({WifiPhyState::TX});
        if (now > Time(0) && sinceTx < respGuard)
        {
            wait = std::max(wait, respGuard - sinceTx);
        }
    }
    if (wait.IsStrictlyPositive())
    {
        Simulator::Schedule(wait, &EdgeOffloadScenario::TrySwitch, this, u);
        return;
    }
    const uint32_t old = user.channel;
    user.channel = user.wantChannel;
    user.switchPending = false;
    FlushUnsent(u, old);
    ParkPeers(u, old);
    phy->SetOperatingChannel(ChannelOf(user.channel));
    // ns-3's MAC resets its remote station manager when the switch ends
    // (WifiMac::NotifyChannelSwitching, scheduled by FrameExchangeManager::NotifySwitchingStartNow
    // for the same delay, hence before this event).
    Simulator::Schedule(phy->GetChannelSwitchDelay(), &EdgeOffloadScenario::UnparkPeers, this, u,
                        user.channel);
    m_counters[SWITCHES] += 1;
    Pump(u);
}

void
EdgeOffloadScenario::DrawArrivals()
{
    const double T = m_interval.GetSeconds();
    m_next.assign(static_cast<size_t>(m_u) * 3, -1.0);
    for (uint32_t u = 0; u < m_u; ++u)
    {
        for (int c = 0; c < 3; ++c)
        {
            const double draw = m_uniform->GetValue();
            const double offset = m_uniform->GetValue();
            if (draw < m_p.ClassRate(c) * T)
            {
                m_next[3 * u + c] = offset * T;
            }
        }
    }
}

void
EdgeOffloadScenario::ScheduleArrivals()
{
    // This interval's arrivals were drawn at the end of the previous one (DrawArrivals).
    for (uint32_t u = 0; u < m_u; ++u)
    {
        for (int c = 0; c < 3; ++c)
        {
            const double offset = m_next[3 * u + c];
            if (offset >= 0.0)
            {
                Time at = Seconds(offset);
                if (at >= m_interval)
                {
                    at = m_interval - TimeStep(1);
                }
                Simulator::Schedule(at, &EdgeOffloadScenario::OnArrival, this, u, c);
            }
        }
    }
    DrawArrivals();
}

uint32_t
EdgeOffloadScenario::Held(const User& user) const
{
    return static_cast<uint32_t>(user.tasks.size());
}

void
EdgeOffloadScenario::OnArrival(uint32_t u, int cls)
{
    User& user = m_users[u];
    user.created[cls] += 1;
    user.totCreated[cls] += 1;
    if (Held(user) >= static_cast<uint32_t>(m_p.max_tasks))
    {
        user.late[cls] += 1; // rejected: late at once
        user.totLate[cls] += 1;
        return;
    }
    Task t;
    t.id = user.nextId++;
    t.cls = cls;
    t.bits = m_p.ClassBits(cls);
    t.cycles = t.bits * m_p.cycles_per_bit;
    t.arrival = Simulator::Now();
    t.deadline = t.arrival + Seconds(m_p.ClassDeadline(cls));
    t.server = 0;
    t.count = 0;
    t.nextSeq = 0;
    t.ackedBits = 0.0;
    if (user.target == 0)
    {
        t.where = LOCAL;
        user.tasks.emplace(t.id, std::move(t));
        user.localQ.push_back(user.nextId - 1);
        if (user.localQ.size() == 1)
        {
            LocalStartNext(u);
        }
    }
    else
    {
        t.where = UPLINK;
        t.server = user.target - 1;
        const uint64_t bytes = static_cast<uint64_t>(std::ceil(t.bits / 8.0));
        t.count = static_cast<uint32_t>(std::max<uint64_t>(1, (bytes + kChunk - 1) / kChunk));
        t.acked.assign(t.count, 0);
        user.offloaded += 1;
        user.tasks.emplace(t.id, std::move(t));
        user.uplinkQ.push_back(user.nextId - 1);
        Pump(u);
    }
}

// ------------------------------------------------------------------ local CPU

void
EdgeOffloadScenario::LocalStartNext(uint32_t u)
{
    User& user = m_users[u];
    user.cpuEvent.Cancel();
    if (user.localQ.empty())
    {
        user.cpu->ChangeState(energy::CpuEnergyModel::IDLE);
        return;
    }
    const Task& t = user.tasks.at(user.localQ.front());
    const double hz = m_levelsHz[user.level];
    user.cpu->SetFrequency(hz);
    user.cpu->ChangeState(energy::CpuEnergyModel::BUSY);
    user.cpuStart = Simulator::Now();
    user.cpuEvent = Simulator::Schedule(Seconds(t.cycles / hz), &EdgeOffloadScenario::LocalDone,
                                        this, u);
}

void
EdgeOffloadScenario::LocalReschedule(uint32_t u, double oldHz)
{
    User& user = m_users[u];
    if (user.localQ.empty())
    {
        user.cpu->SetFrequency(m_levelsHz[user.level]);
        return;
    }
    Task& t = user.tasks.at(user.localQ.front());
    t.cycles = std::max(0.0, t.cycles - oldHz * (Simulator::Now() - user.cpuStart).GetSeconds());
    LocalStartNext(u);
}

double
EdgeOffloadScenario::LocalRemaining(uint32_t u) const
{
    const User& user = m_users[u];
    double sum = 0.0;
    for (size_t i = 0; i < user.localQ.size(); ++i)
    {
        const Task& t = user.tasks.at(user.localQ[i]);
        if (i == 0)
        {
            sum += std::max(0.0, t.cycles - m_levelsHz[user.level] *
                                                (Simulator::Now() - user.cpuStart).GetSeconds());
        }
        else
        {
            sum += t.cycles;
        }
    }
    return sum;
}

void
EdgeOffloadScenario::LocalDone(uint32_t u)
{
    User& user = m_users[u];
    const uint32_t id = user.localQ.front();
    user.localQ.pop_front();
    user.tasks.at(id).cycles = 0.0;
    Finish(u, id);
    LocalStartNext(u);
}

// ------------------------------------------------------------------ uplink

void
EdgeOffloadScenario::Pump(uint32_t u)
{
    User& user = m_users[u];
    if (user.switchPending)
    {
        return; // TrySwitch pumps once the PHY is on the new channel
    }
    while (user.inflight.size() < kWindow)
    {
        if (!user.resend.empty())
        {
            const auto [id, seq] = user.resend.front();
            user.resend.pop_front();
            auto it = user.tasks.find(id);
            if (it == user.tasks.end() || it->second.where != UPLINK || it->second.acked[seq])
            {
                continue;
            }
            SendDatagram(u, id, seq, true);
            continue;
        }
        // The first task of the buffer that still has datagrams never sent.
        bool sent = false;
        for (uint32_t id : user.uplinkQ)
        {
            Task& t = user.tasks.at(id);
            if (t.nextSeq < t.count)
            {
                SendDatagram(u, id, t.nextSeq++, false);
                sent = true;
                break;
            }
        }
        if (!sent)
        {
            break;
        }
    }
}

void
EdgeOffloadScenario::SendDatagram(uint32_t u, uint32_t taskId, uint32_t seq, bool resend)
{
    User& user = m_users[u];
    const Task& t = user.tasks.at(taskId);
    const uint64_t bytes = static_cast<uint64_t>(std::ceil(t.bits / 8.0));
    const uint64_t first = static_cast<uint64_t>(seq) * kChunk;
    const auto payload = static_cast<uint32_t>(std::min<uint64_t>(kChunk, bytes - first));
    Ptr<Packet> p = Create<Packet>(payload);
    EdgeTaskHeader h;
    h.taskId = taskId;
    h.seq = seq;
    h.count = t.count;
    p->AddHeader(h);
    user.inflight[p->GetUid()] = {taskId, seq};
    const Ap& ap = m_aps[t.server];
    user.peerSeen[t.server * m_k + user.channel] = 1;
    user.sock->SendTo(p, 0, InetSocketAddress(ap.addr[user.channel], kTaskPort));
    m_counters[DATAGRAMS_SENT] += 1;
    if (resend)
    {
        m_counters[DATAGRAMS_RESENT] += 1;
    }
}

void
EdgeOffloadScenario::FlushUnsent(uint32_t u, uint32_t oldK)
{
    User& user = m_users[u];
    Ptr<WifiMacQueue> q = user.dev->GetMac()->GetTxopQueue(AC_BE);
    std::vector<std::pair<uint32_t, uint32_t>> back;
    for (uint32_t e = 0; e < m_e; ++e)
    {
        const Mac48Address to = Mac48Address::ConvertFrom(m_aps[e].devs[oldK]->GetAddress());
        Ptr<WifiMpdu> mpdu = q->PeekByTidAndAddress(0, to);
        while (mpdu)
        {
            Ptr<WifiMpdu> next = q->PeekByTidAndAddress(0, to, mpdu);
            auto it = user.inflight.find(mpdu->GetPacket()->GetUid());
            if (it != user.inflight.end())
            {
                // Every datagram queued for the old channel's devices is sent again on the
                // new channel. One never transmitted leaves the queue; one already transmitted
                // (sequence number assigned: part of the BlockAck agreement's window) stays,
                // parked (ParkPeers), and is no longer tracked (its late Ack is ignored).
                back.push_back(it->second);
                user.inflight.erase(it);
                if (!mpdu->IsInFlight() && !mpdu->HasSeqNoAssigned())
                {
                    q->Remove(mpdu);
                }
            }
            mpdu = next;
        }
    }
    std::sort(back.begin(), back.end(), std::greater<>());
    for (const auto& item : back)
    {
        user.resend.push_front(item);
    }
}

namespace
{
const std::list<WifiContainerQueueType> kPeerQueues{WIFI_CTL_QUEUE, WIFI_MGT_QUEUE,
                                                    WIFI_QOSDATA_QUEUE};

/// What AdhocWifiMac::Enqueue does for a brand-new destination: it supports what we support.
void
KnowPeer(Ptr<WifiMac> mac, Mac48Address to)
{
    Ptr<WifiRemoteStationManager> sm = mac->GetWifiRemoteStationManager();
    if (!sm->IsBrandNew(to))
    {
        return;
    }
    if (mac->GetHtSupported(0)) // (not in the 6 GHz band)
    {
        sm->AddAllSupportedMcs(to);
        sm->AddStationHtCapabilities(to, mac->GetHtCapabilities(0));
    }
    if (mac->GetHeSupported())
    {
        sm->AddStationHeCapabilities(to, mac->GetHeCapabilities(0));
        sm->AddStationHe6GhzCapabilities(to, mac->GetHe6GhzBandCapabilities(0));
    }
    sm->AddAllSupportedModes(to);
}
} // namespace

void
EdgeOffloadScenario::ParkPeers(uint32_t u, uint32_t oldK)
{
    // A device does not transmit to a peer that is not on its channel: while a user is away
    // from channel k, its MAC's queues towards the APs' channel-k devices (QoS data TID 0,
    // BlockAckReq, ADDBA) and those devices' queues towards the user are blocked
    // (WifiMacQueueScheduler::BlockQueues, reason POWER_SAVE_MODE: the peer is unreachable,
    // its frames are kept) and unblocked when it comes back (UnparkPeers). Without it the
    // MPDUs already transmitted once were retried on the new channel to the old channel's
    // device, with BlockAckReqs, at non-HT 6 Mbit/s (see UnparkPeers): nobody answered, the
    // contention window doubled, and the AP devices retried results to the departed user.
    User& user = m_users[u];
    const auto reason = WifiQueueBlockedReason::POWER_SAVE_MODE;
    Ptr<WifiMac> um = user.dev->GetMac();
    const Mac48Address self = Mac48Address::ConvertFrom(user.dev->GetAddress());
    for (uint32_t e = 0; e < m_e; ++e)
    {
        Ap& ap = m_aps[e];
        const Mac48Address oldDev = Mac48Address::ConvertFrom(ap.devs[oldK]->GetAddress());
        // (The scheduler asks for the peer's capabilities, which a brand-new peer lacks.)
        KnowPeer(um, oldDev);
        um->GetMacQueueScheduler()->BlockQueues(reason, AC_BE, kPeerQueues, oldDev, self, {0});
        Ptr<WifiMac> om = ap.devs[oldK]->GetMac();
        if (om->GetWifiRemoteStationManager()->IsBrandNew(self))
        {
            continue; // the device never sent to the user: nothing queued
        }
        om->GetMacQueueScheduler()->BlockQueues(reason, AC_BE, kPeerQueues, self, oldDev, {0});
        // Results queued at the old device go again from the new one (as FlushUnsent).
        Ptr<WifiMacQueue> q = om->GetTxopQueue(AC_BE);
        Ptr<WifiMpdu> mpdu = q->PeekByTidAndAddress(0, self);
        while (mpdu)
        {
            Ptr<WifiMpdu> next = q->PeekByTidAndAddress(0, self, mpdu);
            auto it = ap.inflight.find(mpdu->GetPacket()->GetUid());
            if (it != ap.inflight.end())
            {
                const uint32_t id = it->second.second;
                ap.inflight.erase(it);
                if (!mpdu->IsInFlight() && !mpdu->HasSeqNoAssigned())
                {
                    q->Remove(mpdu);
                }
                Simulator::ScheduleNow(&EdgeOffloadScenario::ResendResult, this, e, u, id);
            }
            mpdu = next;
        }
    }
}

void
EdgeOffloadScenario::UnparkPeers(uint32_t u, uint32_t newK)
{
    // Runs when the switch has ended, just after ns-3's MAC reset its remote station manager
    // (WifiMac::NotifyChannelSwitching: "we may have changed PHY band"; the band is the same
    // here). That reset threw away every peer's capabilities and rate state: the MPDUs queued
    // before it went out at the default non-HT 6 Mbit/s without aggregation, later ones at
    // HE MCS 0 until an acknowledgement reported the SNR. A device keeps its peers' state
    // across a switch within the band: the capabilities are put back (as AdhocWifiMac does for
    // a new destination) and, for a device on this channel the user sent to before, the rate
    // state IdealWifiManager would hold: the link's SNR at the interval start, as an
    // acknowledgement reports it without interference. A peer never addressed still starts
    // at MCS 0 (as without switching).
    User& user = m_users[u];
    if (user.channel != newK)
    {
        return;
    }
    const auto reason = WifiQueueBlockedReason::POWER_SAVE_MODE;
    Ptr<WifiMac> um = user.dev->GetMac();
    Ptr<WifiRemoteStationManager> sm = um->GetWifiRemoteStationManager();
    const Mac48Address self = Mac48Address::ConvertFrom(user.dev->GetAddress());
    for (uint32_t e = 0; e < m_e; ++e)
    {
        Ap& ap = m_aps[e];
        const Mac48Address dev = Mac48Address::ConvertFrom(ap.devs[newK]->GetAddress());
        KnowPeer(um, dev);
        if (user.peerSeen[e * m_k + newK])
        {
            const double snr = std::pow(10.0, m_snrDb[u * m_e + e] / 10.0);
            sm->ReportAmpduTxStatus(dev, 1, 0, snr, snr, HeTxVector(0));
        }
        um->GetMacQueueScheduler()->UnblockQueues(reason, AC_BE, kPeerQueues, dev, self, {0});
        Ptr<WifiMac> nm = ap.devs[newK]->GetMac();
        if (!nm->GetWifiRemoteStationManager()->IsBrandNew(self))
        {
            nm->GetMacQueueScheduler()->UnblockQueues(reason, AC_BE, kPeerQueues, self, dev, {0});
            // (Unblocking requests no channel access by itself: frames parked there may wait.)
            nm->GetQosTxop(AC_BE)->StartAccessAfterEvent(0, Txop::DIDNT_HAVE_FRAMES_TO_TRANSMIT,
                                                         Txop::CHECK_MEDIUM_BUSY);
        }
    }
    um->GetQosTxop(AC_BE)->StartAccessAfterEvent(0, Txop::DIDNT_HAVE_FRAMES_TO_TRANSMIT,
                                                 Txop::CHECK_MEDIUM_BUSY);
    Pump(u);
}

void
EdgeOffloadScenario::OnUserAcked(uint32_t u, Ptr<const WifiMpdu> mpdu)
{
    User& user = m_users[u];
    auto it = user.inflight.find(mpdu->GetPacket()->GetUid());
    if (it == user.inflight.end())
    {
        return;
    }
    const auto [id, seq] = it->second;
    user.inflight.erase(it);
    auto t = user.tasks.find(id);
    const double chunkBits = 8.0 * kChunk;
    // (A datagram of a task removed as late is not counted: its task is gone.)
    if (t != user.tasks.end() && t->second.where != LOCAL && !t->second.acked[seq])
    {
        const double bits = std::min(chunkBits, t->second.bits - seq * chunkBits);
        t->second.acked[seq] = 1;
        t->second.ackedBits += bits;
        user.uplinkBits += bits;
    }
    Pump(u);
}

void
EdgeOffloadScenario::OnUserDropped(uint32_t u, WifiMacDropReason, Ptr<const WifiMpdu> mpdu)
{
    User& user = m_users[u];
    auto it = user.inflight.find(mpdu->GetPacket()->GetUid());
    if (it == user.inflight.end())
    {
        return;
    }
    user.lost += 1;
    user.resend.push_back(it->second);
    user.inflight.erase(it);
    Pump(u);
}

void
EdgeOffloadScenario::OnUserTxPsdu(uint32_t u, uint64_t bytes, uint32_t retries)
{
    m_users[u].airBytes += static_cast<double>(bytes);
    m_users[u].retries += static_cast<int32_t>(retries);
}

void
EdgeOffloadScenario::OnUserRecv(uint32_t u, Ptr<Socket> sock)
{
    Ptr<Packet> p;
    while ((p = sock->Recv()))
    {
        EdgeTaskHeader h;
        p->RemoveHeader(h);
        auto t = m_users[u].tasks.find(h.taskId);
        if (t != m_users[u].tasks.end() && t->second.where == RESULT)
        {
            Finish(u, h.taskId);
        }
    }
}

// ------------------------------------------------------------------ servers

void
EdgeOffloadScenario::OnApRecv(uint32_t e, Ptr<Socket> sock)
{
    Ap& ap = m_aps[e];
    Ptr<Packet> p;
    Address from;
    while ((p = sock->RecvFrom(from)))
    {
        m_counters[DATAGRAMS_RX] += 1;
        const auto src = InetSocketAddress::ConvertFrom(from).GetIpv4();
        const auto found = m_userByIp.find(src.Get());
        if (found == m_userByIp.end())
        {
            continue;
        }
        const uint32_t u = found->second;
        EdgeTaskHeader h;
        p->RemoveHeader(h);
        auto t = m_users[u].tasks.find(h.taskId);
        if (t == m_users[u].tasks.end() || t->second.where != UPLINK || t->second.server != e)
        {
            m_counters[DATAGRAMS_STALE] += 1; // its task was removed (late) or is complete
            continue;
        }
        const uint64_t key = Key(u, h.taskId);
        auto& got = ap.reasm[key];
        if (got.empty())
        {
            got.assign(h.count, 0);
        }
        if (h.seq >= got.size() || got[h.seq])
        {
            m_counters[DATAGRAMS_DUPLICATE] += 1;
            continue;
        }
        got[h.seq] = 1;
        if (++ap.reasmCount[key] < h.count)
        {
            continue;
        }
        ap.reasm.erase(key);
        ap.reasmCount.erase(key);
        Task& task = t->second;
        task.where = SERVER;
        // The buffer's bits all left it (some acknowledgements may still be on their way).
        User& user = m_users[u];
        user.uplinkQ.erase(std::remove(user.uplinkQ.begin(), user.uplinkQ.end(), h.taskId),
                           user.uplinkQ.end());
        m_counters[TASKS_AT_SERVERS] += 1;
        ap.cpuQ.emplace_back(u, h.taskId);
        if (ap.cpuQ.size() == 1)
        {
            ServerStartNext(e);
        }
    }
}

void
EdgeOffloadScenario::ServerStartNext(uint32_t e)
{
    Ap& ap = m_aps[e];
    ap.cpuEvent.Cancel();
    if (ap.cpuQ.empty())
    {
        return;
    }
    const auto [u, id] = ap.cpuQ.front();
    const Task& t = m_users[u].tasks.at(id);
    ap.cpuStart = Simulator::Now();
    ap.cpuEvent = Simulator::Schedule(Seconds(t.cycles / m_p.server_cpu_hz),
                                      &EdgeOffloadScenario::ServerDone, this, e);
}

void
EdgeOffloadScenario::ServerDone(uint32_t e)
{
    Ap& ap = m_aps[e];
    const auto [u, id] = ap.cpuQ.front();
    ap.cpuQ.pop_front();
    Task& t = m_users[u].tasks.at(id);
    t.cycles = 0.0;
    t.where = RESULT;
    SendResult(e, u, id);
    ServerStartNext(e);
}

double
EdgeOffloadScenario::ServerBacklog(uint32_t e) const
{
    const Ap& ap = m_aps[e];
    double cycles = 0.0;
    for (size_t i = 0; i < ap.cpuQ.size(); ++i)
    {
        const auto [u, id] = ap.cpuQ[i];
        const double c = m_users[u].tasks.at(id).cycles;
        cycles += i == 0 ? std::max(0.0, c - m_p.server_cpu_hz *
                                                 (Simulator::Now() - ap.cpuStart).GetSeconds())
                         : c;
    }
    return cycles / m_p.server_cpu_hz;
}

void
EdgeOffloadScenario::SendResult(uint32_t e, uint32_t u, uint32_t taskId)
{
    Ap& ap = m_aps[e];
    const User& user = m_users[u];
    const auto bytes = static_cast<uint32_t>(std::ceil(m_p.result_bits / 8.0));
    Ptr<Packet> p = Create<Packet>(bytes);
    EdgeTaskHeader h;
    h.taskId = taskId;
    h.seq = 0;
    h.count = 1;
    p->AddHeader(h);
    ap.inflight[p->GetUid()] = {u, taskId};
    ap.sendSock[user.channel]->SendTo(p, 0, InetSocketAddress(user.addr, kResultPort));
    m_counters[RESULTS_SENT] += 1;
}

void
EdgeOffloadScenario::ResendResult(uint32_t e, uint32_t u, uint32_t taskId)
{
    auto t = m_users[u].tasks.find(taskId);
    if (t != m_users[u].tasks.end() && t->second.where == RESULT)
    {
        SendResult(e, u, taskId);
    }
}

void
EdgeOffloadScenario::OnApAcked(uint32_t e, Ptr<const WifiMpdu> mpdu)
{
    m_aps[e].inflight.erase(mpdu->GetPacket()->GetUid());
}

void
EdgeOffloadScenario::OnApDropped(uint32_t e, WifiMacDropReason, Ptr<const WifiMpdu> mpdu)
{
    Ap& ap = m_aps[e];
    auto it = ap.inflight.find(mpdu->GetPacket()->GetUid());
    if (it == ap.inflight.end())
    {
        return;
    }
    const auto [u, id] = it->second;
    ap.inflight.erase(it);
    auto t = m_users[u].tasks.find(id);
    if (t != m_users[u].tasks.end() && t->second.where == RESULT)
    {
        Simulator::ScheduleNow(&EdgeOffloadScenario::SendResult, this, e, u, id);
    }
}

void
EdgeOffloadScenario::OnApState(uint32_t e, uint32_t k, Time start, Time duration, WifiPhyState s)
{
    if (!IsBusy(s))
    {
        return;
    }
    Ap& ap = m_aps[e];
    const Time end = start + duration;
    const Time t1 = m_t0 + m_interval;
    ap.busy[k] += Overlap(start, end, m_t0, t1);
    if (end > t1)
    {
        ap.pending[k].emplace_back(t1, end);
    }
}

// ------------------------------------------------------------------ tasks

void
EdgeOffloadScenario::Finish(uint32_t u, uint32_t taskId)
{
    User& user = m_users[u];
    auto it = user.tasks.find(taskId);
    const Task& t = it->second;
    const Time now = Simulator::Now();
    const int c = t.cls;
    if (now <= t.deadline)
    {
        const double lat = (now - t.arrival).GetSeconds();
        user.done[c] += 1;
        user.totDone[c] += 1;
        user.latSum[c] += lat;
        user.latMax[c] = std::max(user.latMax[c], lat);
        user.latOverDeadline += lat / m_p.ClassDeadline(c);
        user.bitsDone += t.bits;
        const double x = std::floor(kHistBins * std::log10(std::max(lat, 1e-300) / kHistMin) /
                                    kHistDecades);
        const auto bin = static_cast<uint32_t>(std::clamp(x, 0.0, kHistBins - 1.0));
        m_histScratch[c * kHistBins + bin] += 1;
    }
    else
    {
        user.late[c] += 1; // the deadline fell in this interval (else the sweep removed it)
        user.totLate[c] += 1;
    }
    user.tasks.erase(it);
}

void
EdgeOffloadScenario::Remove(uint32_t u, uint32_t taskId)
{
    User& user = m_users[u];
    const Task& t = user.tasks.at(taskId);
    switch (t.where)
    {
    case LOCAL: {
        const bool head = !user.localQ.empty() && user.localQ.front() == taskId;
        user.localQ.erase(std::remove(user.localQ.begin(), user.localQ.end(), taskId),
                          user.localQ.end());
        user.late[t.cls] += 1;
        user.totLate[t.cls] += 1;
        user.tasks.erase(taskId);
        if (head)
        {
            LocalStartNext(u);
        }
        return;
    }
    case UPLINK:
        user.uplinkQ.erase(std::remove(user.uplinkQ.begin(), user.uplinkQ.end(), taskId),
                           user.uplinkQ.end());
        m_aps[t.server].reasm.erase(Key(u, taskId));
        m_aps[t.server].reasmCount.erase(Key(u, taskId));
        break;
    case SERVER: {
        Ap& ap = m_aps[t.server];
        const bool head = !ap.cpuQ.empty() && ap.cpuQ.front() == std::make_pair(u, taskId);
        ap.cpuQ.erase(std::remove(ap.cpuQ.begin(), ap.cpuQ.end(), std::make_pair(u, taskId)),
                      ap.cpuQ.end());
        user.late[t.cls] += 1;
        user.totLate[t.cls] += 1;
        user.tasks.erase(taskId);
        if (head)
        {
            ServerStartNext(t.server);
        }
        return;
    }
    case RESULT:
        break;
    }
    user.late[t.cls] += 1;
    user.totLate[t.cls] += 1;
    user.tasks.erase(taskId);
}

void
EdgeOffloadScenario::SweepLate()
{
    const Time t1 = Simulator::Now();
    for (uint32_t u = 0; u < m_u; ++u)
    {
        User& user = m_users[u];
        std::vector<uint32_t> gone;
        for (const auto& [id, t] : user.tasks)
        {
            if (t.deadline < t1)
            {
                gone.push_back(id);
            }
        }
        for (uint32_t id : gone)
        {
            Remove(u, id);
        }
        if (!gone.empty())
        {
            Pump(u);
        }
    }
}

// ------------------------------------------------------------------ outputs

void
EdgeOffloadScenario::EndInterval(const EdgeOffloadArrays& out, uint64_t events, double wall)
{
    const Time t1 = Simulator::Now();
    const double T = m_interval.GetSeconds();
    // channel busy: logged periods, periods logged earlier that reach into this interval, and
    // the busy period in progress (RX / CCA-busy are logged when they end; TX when it starts).
    std::vector<double> busy(m_k, 0.0);
    for (uint32_t e = 0; e < m_e && m_t > 0; ++e)
    {
        Ap& ap = m_aps[e];
        for (uint32_t k = 0; k < m_k; ++k)
        {
            double b = ap.busy[k];
            auto& pend = ap.pending[k];
            std::vector<std::pair<Time, Time>> keep;
            for (const auto& [s, en] : pend)
            {
                if (s < t1) // logged in an earlier interval, reaching into this one
                {
                    b += Overlap(s, en, m_t0, t1);
                }
                if (en > t1)
                {
                    keep.emplace_back(std::max(s, t1), en);
                }
            }
            // Entries logged in this interval (s = t1) were counted by OnApState already.
            pend.clear();
            for (auto& x : keep)
            {
                pend.push_back(x);
            }
            Ptr<WifiPhyStateHelper> st = ap.devs[k]->GetPhy()->GetState();
            const WifiPhyState s = st->GetState();
            if (s == WifiPhyState::RX)
            {
                b += Overlap(st->GetLastRxStartTime(), t1, m_t0, t1);
            }
            else if (s == WifiPhyState::CCA_BUSY)
            {
                const Time since = st->GetLastTime({WifiPhyState::IDLE, WifiPhyState::TX,
                                                    WifiPhyState::RX, WifiPhyState::SWITCHING,
                                                    WifiPhyState::SLEEP});
                b += Overlap(since, t1, m_t0, t1);
            }
            busy[k] += std::min(1.0, b / T) / m_e;
        }
    }
    m_busyLast = busy;

    std::fill(out.latencyHist.begin(), out.latencyHist.end(), 0);
    for (size_t i = 0; i < m_histScratch.size(); ++i)
    {
        out.latencyHist[i] = m_histScratch[i];
    }
    std::fill(m_histScratch.begin(), m_histScratch.end(), 0);

    // Jain over users' running success ratios (users without a finished task count as 1).
    double sx = 0.0;
    double sxx = 0.0;
    for (const auto& user : m_users)
    {
        const int64_t d = user.totDone[0] + user.totDone[1] + user.totDone[2];
        const int64_t l = user.totLate[0] + user.totLate[1] + user.totLate[2];
        const double x = d + l > 0 ? static_cast<double>(d) / static_cast<double>(d + l) : 1.0;
        sx += x;
        sxx += x * x;
    }
    const double jain = sxx > 0.0 ? sx * sx / (m_u * sxx) : 1.0;

    for (uint32_t u = 0; u < m_u; ++u)
    {
        User& user = m_users[u];
        const double eCpu = std::max(0.0, user.cpu->GetTotalEnergyConsumption() - user.e0Cpu);
        const double eRadio =
            std::max(0.0, user.radio->GetTotalEnergyConsumption() - user.e0Radio);
        user.lastEnergy = eCpu + eRadio;
        std::array<int32_t, 3> waiting{};
        for (const auto& [id, t] : user.tasks)
        {
            waiting[t.cls] += 1;
        }
        int32_t nDone = 0;
        int32_t nLate = 0;
        for (int c = 0; c < 3; ++c)
        {
            const size_t i = 3 * u + c;
            out.created[i] = user.created[c];
            out.done[i] = user.done[c];
            out.late[i] = user.late[c];
            out.waiting[i] = waiting[c];
            out.latencySum[i] = user.latSum[c];
            out.latencyMax[i] = user.latMax[c];
            nDone += user.done[c];
            nLate += user.late[c];
        }
        out.bitsDone[u] = user.bitsDone;
        out.energyCpu[u] = eCpu;
        out.energyRadio[u] = eRadio;
        out.offloaded[u] = user.offloaded;
        out.uplinkBits[u] = user.uplinkBits;
        out.target[u] = static_cast<int32_t>(user.target);
        out.channel[u] = static_cast<int32_t>(user.wantChannel);
        out.cpuLevel[u] = static_cast<int32_t>(user.level);
        out.macRetries[u] = user.retries;
        out.packetsLost[u] = user.lost;
        out.airBytes[u] = user.airBytes;
        const Vector pos = user.mob->GetPosition();
        out.positions[2 * u] = pos.x;
        out.positions[2 * u + 1] = pos.y;
        for (uint32_t e = 0; e < m_e; ++e)
        {
            out.snrDb[u * m_e + e] = static_cast<float>(m_snrDb[u * m_e + e]);
        }
        for (int c = 0; c < 3; ++c)
        {
            out.nextArrivals[3 * u + c] = m_next[3 * u + c];
        }
        const double reward =
            m_p.w_success * (nDone - nLate) - m_p.w_latency * user.latOverDeadline -
            m_p.w_energy * (eCpu + eRadio) +
            m_p.w_spectral * (user.uplinkBits / (20e6 * T)) - m_p.w_fairness * (1.0 - jain);
        out.reward[u] = static_cast<float>(reward);
    }
    std::copy(busy.begin(), busy.end(), out.channelBusy.begin());
    for (uint32_t e = 0; e < m_e; ++e)
    {
        out.serverBacklog[e] = ServerBacklog(e);
    }
    WriteObs(out);

    std::fill(out.metrics.begin(), out.metrics.end(), 0.0);
    for (uint32_t i = DATAGRAMS_SENT; i < kMetricNames.size(); ++i)
    {
        out.metrics[i] = m_counters[i];
    }
    out.metrics[SIM_TIME] = t1.GetSeconds();
    out.metrics[STEP] = m_t;
    out.metrics[EPISODES] = static_cast<double>(m_episodes);
    out.metrics[RNG_RUN] = static_cast<double>(m_run);
    out.metrics[EVENTS] = static_cast<double>(events);
    out.metrics[WALL_SECONDS] = wall;
}

void
EdgeOffloadScenario::WriteObs(const EdgeOffloadArrays& out)
{
    const Time now = Simulator::Now();
    for (uint32_t u = 0; u < m_u; ++u)
    {
        const User& user = m_users[u];
        float* o = out.obs.data() + static_cast<size_t>(u) * m_w;
        std::fill(o, o + m_w, 0.0f);
        double upBits = 0.0;
        uint32_t upTasks = 0;
        const Task* hol = nullptr;
        for (const auto& [id, t] : user.tasks)
        {
            if (t.where == UPLINK)
            {
                ++upTasks;
                upBits += t.bits - t.ackedBits;
            }
            if ((t.where == LOCAL || t.where == UPLINK) &&
                (!hol || t.deadline < hol->deadline))
            {
                hol = &t;
            }
        }
        o[0] = static_cast<float>(user.localQ.size());
        o[1] = static_cast<float>(LocalRemaining(u) / 1e9);
        o[2] = static_cast<float>(upTasks);
        o[3] = static_cast<float>(upBits / 1e6);
        o[4] = static_cast<float>(user.lastEnergy * 1e3);
        o[5] = static_cast<float>(static_cast<double>(user.level) / std::max<uint32_t>(m_f - 1, 1));
        for (uint32_t k = 0; k < m_k; ++k)
        {
            o[6 + k] = static_cast<float>(m_busyLast[k]);
        }
        if (hol)
        {
            o[6 + m_k + hol->cls] = 1.0f;
            o[9 + m_k] = static_cast<float>(std::clamp((hol->deadline - now).GetSeconds(), 0.0, 10.0));
        }
        for (uint32_t e = 0; e < m_e; ++e)
        {
            o[10 + m_k + e] = static_cast<float>(m_broadcast[e]);
            o[10 + m_k + m_e + e] =
                static_cast<float>(std::clamp(m_snrDb[u * m_e + e], -50.0, 100.0));
        }
    }
}

// ------------------------------------------------------------------ accessors

WifiTxVector
EdgeOffloadScenario::HeTxVector(uint8_t mcs)
{
    return WifiTxVector(HePhy::GetHeMcs(mcs), 0, WIFI_PREAMBLE_HE_SU, NanoSeconds(800), 1, 1, 0,
                        20, false);
}

double
EdgeOffloadScenario::IdealBerThreshold()
{
    TypeId::AttributeInformation info;
    const bool found = IdealWifiManager::GetTypeId().LookupAttributeByName("BerThreshold", &info);
    NS_ABORT_MSG_UNLESS(found, "IdealWifiManager has no BerThreshold attribute");
    return DynamicCast<const DoubleValue>(info.initialValue)->Get();
}

std::vector<double>
EdgeOffloadScenario::McsThresholdsDb()
{
    // What IdealWifiManager::DoInitialize does per HE MCS (AddSnrThreshold(txVector,
    // phy->CalculateSnr(txVector, BerThreshold))), with the PHY's default error rate model
    // (YansWifiPhyHelper: TableBasedErrorRateModel). A C++ test checks a live PHY agrees.
    auto erm = CreateObject<TableBasedErrorRateModel>();
    const double ber = IdealBerThreshold();
    std::vector<double> out;
    for (uint8_t m = 0; m < 12; ++m)
    {
        out.push_back(10.0 * std::log10(erm->CalculateSnr(HeTxVector(m), ber)));
    }
    return out;
}

std::vector<double>
EdgeOffloadScenario::McsRatesMbps()
{
    std::vector<double> out;
    for (uint8_t m = 0; m < 12; ++m)
    {
        out.push_back(static_cast<double>(HePhy::GetHeMcs(m).GetDataRate(HeTxVector(m))) / 1e6);
    }
    return out;
}

uint32_t
EdgeOffloadScenario::GetStep() const
{
    return m_t;
}

bool
EdgeOffloadScenario::EpisodeOver() const
{
    return m_t >= m_p.episode_steps;
}

const fedmarl::EdgeOffloadParams&
EdgeOffloadScenario::GetParams() const
{
    return m_p;
}

double
EdgeOffloadScenario::GetNoiseDbm() const
{
    return m_noiseDbm;
}

Ptr<WifiNetDevice>
EdgeOffloadScenario::GetUserDevice(uint32_t u) const
{
    return m_users.at(u).dev;
}

Ptr<WifiNetDevice>
EdgeOffloadScenario::GetApDevice(uint32_t e, uint32_t k) const
{
    return m_aps.at(e).devs.at(k);
}

Ptr<EdgeLinkLossModel>
EdgeOffloadScenario::GetLossModel() const
{
    return m_loss;
}

Vector
EdgeOffloadScenario::GetUserPosition(uint32_t u) const
{
    return m_users.at(u).mob->GetPosition();
}

std::array<int64_t, 3>
EdgeOffloadScenario::GetTotals(uint32_t u, int c) const
{
    const User& user = m_users.at(u);
    return {user.totCreated[c], user.totDone[c], user.totLate[c]};
}

int64_t
EdgeOffloadScenario::GetHeld(uint32_t u, int c) const
{
    int64_t n = 0;
    for (const auto& [id, t] : m_users.at(u).tasks)
    {
        n += t.cls == c;
    }
    return n;
}

} // namespace ns3
