/*
 * fedmarl-ns3: the edge-offload scenario at packet level: mobile users in a factory hall offload
 * tasks over ns-3's 802.11ax Wi-Fi (UDP/IPv4) to edge servers behind ceiling access points, or
 * run them on their own DVFS CPU; one decision interval per step.
 * SPDX-License-Identifier: GPL-2.0-only
 */

#ifndef FEDMARL_EDGE_OFFLOAD_SCENARIO_H
#define FEDMARL_EDGE_OFFLOAD_SCENARIO_H

#include "edge-offload-params.h"

#include "ns3/event-id.h"
#include "ns3/ipv4-address.h"
#include "ns3/mac48-address.h"
#include "ns3/node-container.h"
#include "ns3/nstime.h"
#include "ns3/ptr.h"
#include "ns3/vector.h"
#include "ns3/wifi-mac.h"
#include "ns3/wifi-phy-state.h"
#include "ns3/wifi-tx-vector.h"

#include <array>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <span>
#include <unordered_map>
#include <vector>

namespace ns3
{

class MobilityModel;
class FactoryAlleyMobilityManager;
class Packet;
class Socket;
class UniformRandomVariable;
class WifiMpdu;
class WifiNetDevice;
class YansWifiChannel;

namespace energy
{
class CpuEnergyModel;
class BasicEnergySource;
class DeviceEnergyModel;
} // namespace energy

class EdgeLinkLossModel;

/**
 * @ingroup fedmarl
 * Views of the scenario's arrays (the segment's, or an ArrayStore's in tests). Shapes, dtypes,
 * meanings: EdgeOffloadArrayTable() (edge-offload-contract.cc, printed by --contract-json).
 * U users, E servers, K channels, W = 10 + K + 2E, C = 3 classes, H = 60 latency bins.
 */
struct EdgeOffloadArrays
{
    std::span<int32_t> actions;        //!< [U, 3] in: target, channel, CPU level
    std::span<float> obs;              //!< [U, W]
    std::span<float> reward;           //!< [U]
    std::span<int32_t> created;        //!< [U, C] tasks created in the interval
    std::span<int32_t> done;           //!< [U, C] results back by the deadline
    std::span<int32_t> late;           //!< [U, C] deadline passed (or rejected)
    std::span<int32_t> waiting;        //!< [U, C] alive at the interval end
    std::span<double> latencySum;      //!< [U, C] s
    std::span<double> latencyMax;      //!< [U, C] s
    std::span<int32_t> latencyHist;    //!< [C, H]
    std::span<double> bitsDone;        //!< [U] payload bits of done tasks
    std::span<double> energyCpu;       //!< [U] J
    std::span<double> energyRadio;     //!< [U] J
    std::span<int32_t> offloaded;      //!< [U] arrivals sent to a server
    std::span<double> uplinkBits;      //!< [U] payload bits that left the buffer (acked)
    std::span<double> channelBusy;     //!< [K] busy fraction, mean over the E APs
    std::span<double> serverBacklog;   //!< [E] s of work at the interval end
    std::span<int32_t> target;         //!< [U] action applied
    std::span<int32_t> channel;        //!< [U]
    std::span<int32_t> cpuLevel;       //!< [U]
    std::span<int32_t> macRetries;     //!< [U] MPDUs sent with the Retry bit
    std::span<int32_t> packetsLost;    //!< [U] datagrams dropped by the MAC
    std::span<double> airBytes;        //!< [U] PSDU bytes sent by the PHY
    std::span<double> positions;       //!< [U, 2] m
    std::span<float> snrDb;            //!< [U, E] dB at the start of the next interval
    std::span<double> nextArrivals;    //!< [U, C] offset (s) of the next interval's arrival, -1
    std::span<double> metrics;         //!< [kMetrics]
};

/**
 * @ingroup fedmarl
 * @brief One copy of the edge-offload scenario at packet level (the ns-3 counterpart of
 *        pybridge/scenarios/edge_offload/twin.py), stepped one decision interval at a time.
 *
 * Model (docs/scenarios/edge-offload-model.md, sections 2, 3, 5; ns-3 classes in brackets):
 * - Nodes: U users [RandomWaypointMobilityModel, pause 0, constant speed, waypoints uniform in
 *   the hall; mobility=alleys: FactoryAlleyMobilityManager's models on one 180 m x 80 m tile,
 *   stepped every kLargeScaleEvery intervals], E APs at x = L (e + 0.5) / E, y = W_h / 2, z = ap_height
 *   [ConstantPositionMobilityModel].
 * - Wi-Fi [WifiHelper, WIFI_STANDARD_80211ax, AdhocWifiMac, IdealWifiManager, YansWifiPhy]:
 *   6 GHz band, 20 MHz channels, channel number 1 + 4k for k = 0..K-1. A user has one
 *   WifiNetDevice whose PHY switches channel [WifiPhy::SetOperatingChannel] at an interval start
 *   when its action's k changes; an AP has K WifiNetDevices, one per channel. All PHYs share one
 *   YansWifiChannel: YansWifiChannel::Send delivers a PPDU only to PHYs on the sender's channel
 *   number, so the K channels are orthogonal exactly as K channel objects would be, and a user
 *   can change channel (a YansWifiPhy cannot leave the YansWifiChannel it was added to).
 *   Propagation: ConstantSpeedPropagationDelayModel and EdgeLinkLossModel (below).
 * - Channel [EdgeLinkLossModel, a PropagationLossModel]: user-AP links use our
 *   ThreeGppIndoorFactoryPropagationLossModel of `clutter` (InF-SH / InF-DH) with its
 *   ThreeGppIndoorFactoryChannelConditionModel (spatially consistent LOS) and shadowing field
 *   (shadow_corr_distance) at carrier_freq_ghz; user-user links (both below the clutter, seen
 *   only for carrier sense and interference) the low-BS counterpart InF-SL / InF-DL with the
 *   same clutter; AP-AP links InF-HH (both above the clutter: LOS). Every link also has AR(1)
 *   Rayleigh block fading [fedmarl::Ar1RayleighFading], rho = J0(2 pi f_D T), advanced once per
 *   interval. A link's gain is evaluated once per interval (user-AP links at the interval start,
 *   the others at their first use in the interval) and kept for the interval: block fading, and
 *   reciprocal (uplink = downlink); its large-scale part (path loss, LOS, shadowing) is
 *   re-evaluated every kLargeScaleEvery intervals, as the twin's (the users move continuously).
 * - IP [InternetStackHelper, Ipv4AddressHelper, NeighborCacheHelper: static ARP]: tasks are UDP
 *   datagrams of at most 1472 B payload: a 12-byte EdgeTaskHeader (task id, seq, count) and up
 *   to 1460 task bytes, sent as fast as the MAC takes them (at most kWindow datagrams queued
 *   per user), to AP e's device on the user's current channel; the AP reassembles a task by
 *   its id and the task reaches server e when its last datagram arrives. A datagram the MAC
 *   drops (retry limit, expiry) is sent again (the task's bits must all arrive); the drop counts
 *   in packets_lost.
 * - Channel switch (decision): at an interval start where a user's k changes, the PHY switches
 *   at the first moment it neither transmits nor receives, no SIFS response can be due and it
 *   nor awaits the response to its own last PPDU (TrySwitch; usually at once, else some tens
 *   of us .. one PPDU later); then every datagram in its MAC queue for the old channel's
 *   devices is re-sent on the new channel to the new (e, k) device (FlushUnsent): one never
 *   transmitted is taken out of the queue, one already transmitted (sequence number assigned:
 *   in the BlockAck agreement's window) stays, parked: the user's queues towards the old
 *   channel's devices and those devices' queues towards the user are blocked while the user
 *   is away (ParkPeers; results queued there are re-sent from the new device) and unblocked
 *   when it returns (UnparkPeers), so no frame goes to a device off the sender's channel.
 *   ns-3's MAC resets its remote station manager when a switch ends; UnparkPeers puts the
 *   peers' capabilities back and, for a device the user sent to before, IdealWifiManager's
 *   rate state (the link's SNR at the interval start). The switch itself is ns-3's
 *   (ChannelSwitchDelay 250 us, the PHY is SWITCHING meanwhile).
 * - Server e: a FIFO CPU at server_cpu_hz (events); when a task finishes, the result
 *   (result_bits) goes back as one UDP datagram from AP e's device on the user's current
 *   channel (re-sent on the then current channel if the MAC drops it).
 * - Local CPU: FIFO at cpu_levels[f] of the interval (events; the task in service continues at
 *   the new level), energy by CpuEnergyModel (kappa f^3 W busy, cpu_idle_power_w idle).
 * - Energy [BasicEnergySource per user, WifiRadioEnergyModel with TxCurrentA / RxCurrentA from
 *   the parameters and IdleCurrentA = CcaBusyCurrentA = 0 (model section 1), SwitchingCurrentA =
 *   SleepCurrentA = 0 (ours: the twin has no such states), CpuEnergyModel]. The radio model is
 *   EdgeWifiRadioEnergyModel, a WifiRadioEnergyModel without the far-future switch-off event
 *   ns-3 schedules at every PHY state change (edge-radio-energy-model.h: speed, exact zeros).
 * - Tasks (model section 3): per interval, user and class a Bernoulli(rate T) arrival at a
 *   uniform offset; rejection at max_tasks (late at once); a task whose deadline falls in the
 *   interval and has no result back is late and removed at the interval's end.
 *
 * Reset(run): Simulator::Destroy, RngSeed 1 + seed mod (2^32 - 22853), RngRun run, a new
 * episode; writes the t = 0 observation (no interval is simulated: empty queues). Every random
 * variable has a fixed stream, so (seed, run) reproduces an episode exactly.
 */
class EdgeOffloadScenario
{
  public:
    /// Intervals between large-scale refreshes (path loss, LOS, shadowing), as the twin's.
    static constexpr uint32_t kLargeScaleEvery = 10;
    /// Datagrams a user keeps queued in its MAC at most (fills an A-MPDU of 64 MPDUs).
    static constexpr uint32_t kWindow = 64;
    /// UDP payload of a full datagram, B.
    static constexpr uint32_t kMaxPayload = 1472;
    /// Task header bytes inside the UDP payload.
    static constexpr uint32_t kHeaderBytes = 12;
    /// Task bytes per full datagram.
    static constexpr uint32_t kChunk = kMaxPayload - kHeaderBytes;
    /// Latency histogram: bins, lowest edge, decades.
    static constexpr uint32_t kHistBins = 60;
    static constexpr double kHistMin = 1e-5;
    static constexpr double kHistDecades = 6.0;
    /// Number of entries of the metrics array.
    static constexpr uint32_t kMetrics = 16;
    /// Indices of the metrics array (named by kMetricNames, printed as constants.metrics).
    enum Metric : uint32_t
    {
        SIM_TIME = 0,       //!< simulated time at the interval's end, s
        STEP = 1,           //!< step index t
        EPISODES = 2,       //!< episodes started by this process
        RNG_RUN = 3,        //!< RngRun of the episode
        EVENTS = 4,         //!< ns-3 events executed in the interval
        WALL_SECONDS = 5,   //!< wall-clock seconds the interval took to simulate
        DATAGRAMS_SENT = 6, //!< task datagrams handed to UDP (incl. re-sends)
        DATAGRAMS_RESENT = 7, //!< of which re-sends
        DATAGRAMS_RX = 8,   //!< task datagrams received by the APs
        RESULTS_SENT = 9,   //!< result datagrams sent by the APs
        TASKS_AT_SERVERS = 10, //!< tasks that reached a server in the interval
        SWITCHES = 11,      //!< users that changed channel at the interval start
        DATAGRAMS_DUPLICATE = 12, //!< of DATAGRAMS_RX: already received (MAC duplicates)
        DATAGRAMS_STALE = 13, //!< of DATAGRAMS_RX: their task was removed or complete
    };
    /// Names of the metrics, by index (the rest are reserved, 0).
    static constexpr std::array<const char*, 14> kMetricNames = {
        "sim_time_s",       "step",          "episodes",         "rng_run",
        "events",           "wall_seconds",  "datagrams_sent",   "datagrams_resent",
        "datagrams_received", "results_sent", "tasks_at_servers", "channel_switches",
        "datagrams_duplicate", "datagrams_stale"};

    /// @param params validated parameters
    explicit EdgeOffloadScenario(const fedmarl::EdgeOffloadParams& params);
    ~EdgeOffloadScenario();
    EdgeOffloadScenario(const EdgeOffloadScenario&) = delete;
    EdgeOffloadScenario& operator=(const EdgeOffloadScenario&) = delete;

    /// Start an episode with RngRun `run`; write the t = 0 outputs.
    void Reset(uint64_t run, const EdgeOffloadArrays& out);
    /**
     * One decision interval.
     * @param actions [U, 3]: target 0..E, channel 0..K-1, CPU level 0..F-1
     * @param out where the interval's results go
     * @throws std::invalid_argument for a bad action (naming the agent and the component),
     *         std::logic_error before the first Reset or after the episode's last step
     */
    void Step(std::span<const int32_t> actions, const EdgeOffloadArrays& out);
    /// Release every ns-3 object and destroy the simulator.
    void Teardown();

    /// @return the step index t (0 after Reset)
    uint32_t GetStep() const;
    /// @return true once episode_steps steps have run
    bool EpisodeOver() const;
    /// @return the parameters
    const fedmarl::EdgeOffloadParams& GetParams() const;
    /// @return the noise power per channel, dBm
    double GetNoiseDbm() const;
    /// @return a user's WifiNetDevice (tests)
    Ptr<WifiNetDevice> GetUserDevice(uint32_t u) const;
    /// @return AP e's device on channel k (tests)
    Ptr<WifiNetDevice> GetApDevice(uint32_t e, uint32_t k) const;
    /// @return the loss model of the channel (tests)
    Ptr<EdgeLinkLossModel> GetLossModel() const;
    /// @return a user's position
    Vector GetUserPosition(uint32_t u) const;
    /// @return cumulative created, done, late of user u, class c (tests: conservation)
    std::array<int64_t, 3> GetTotals(uint32_t u, int c) const;
    /// @return the tasks user u holds now, of class c
    int64_t GetHeld(uint32_t u, int c) const;

    /// @return the TXVECTOR of HE SU MCS `mcs`, 20 MHz, 1 SS, GI 800 ns
    static WifiTxVector HeTxVector(uint8_t mcs);
    /// @return IdealWifiManager's default BerThreshold
    static double IdealBerThreshold();
    /**
     * @return the SNR thresholds (dB) IdealWifiManager uses for HE MCS 0..11 (20 MHz, 1 SS,
     *         GI 800 ns): the lowest SNR at which it picks each MCS. Obtained as
     *         IdealWifiManager::DoInitialize does: the SNR at which the PHY's error rate model
     *         (TableBasedErrorRateModel, YansWifiPhyHelper's default) gives BER = BerThreshold
     *         (1e-6); the contract's constants mcs_snr_threshold_db / mcs_rate_mbps:
     *
     *         MCS      0     1     2      3      4      5      6      7      8      9     10     11
     *         dB   1.465 4.475 6.985 10.375 13.465 17.865 19.125 20.775 24.525 25.905 33.277 35.186
     *         Mbit/s 8.6  17.2  25.8   34.4   51.6   68.8   77.4   86.0  103.2  114.7  129.0  143.4
     */
    static std::vector<double> McsThresholdsDb();
    /// @return the PHY rates of HE MCS 0..11 (20 MHz, 1 SS, GI 800 ns), Mbit/s
    static std::vector<double> McsRatesMbps();

    /// A task (model section 3) and where it is.
    enum Where : uint8_t
    {
        LOCAL = 0,  //!< local CPU queue (or in service)
        UPLINK = 1, //!< uplink buffer / in the air
        SERVER = 2, //!< at server e (queue or service)
        RESULT = 3, //!< result on its way back
    };

  private:
    struct Task
    {
        uint32_t id;
        int cls;
        double bits;
        double cycles;      //!< remaining cycles (local or server)
        Time arrival;
        Time deadline;
        Where where;
        uint32_t server;    //!< e (offloaded)
        uint32_t count;     //!< datagrams
        uint32_t nextSeq;   //!< next seq to send the first time
        std::vector<uint8_t> acked; //!< per seq, acknowledged by the MAC
        double ackedBits;   //!< payload bits acknowledged
    };

    struct User
    {
        Ptr<Node> node;
        Ptr<WifiNetDevice> dev;
        Ptr<Socket> sock;
        Ipv4Address addr;
        Ptr<MobilityModel> mob;
        Ptr<energy::DeviceEnergyModel> radio;
        Ptr<energy::BasicEnergySource> source;
        Ptr<energy::CpuEnergyModel> cpu;
        uint32_t channel{0};                 //!< the PHY's channel (datagrams go to its devices)
        uint32_t wantChannel{0};             //!< the action's channel
        bool switchPending{false};           //!< TrySwitch is waiting for a quiet PHY
        std::vector<uint8_t> peerSeen;       //!< per (e, k): a datagram went to AP e's device k
        uint32_t target{0};
        uint32_t level{0};
        uint32_t nextId{0};
        std::map<uint32_t, Task> tasks;      //!< alive tasks by id
        std::deque<uint32_t> localQ;         //!< FIFO, front in service
        EventId cpuEvent;
        Time cpuStart;                       //!< start of the current service period
        std::deque<uint32_t> uplinkQ;        //!< FIFO of tasks still being sent
        std::deque<std::pair<uint32_t, uint32_t>> resend; //!< (task, seq) to send again
        std::unordered_map<uint64_t, std::pair<uint32_t, uint32_t>> inflight; //!< uid -> (task, seq)
        // per interval
        std::array<int32_t, 3> created{}, done{}, late{};
        std::array<double, 3> latSum{}, latMax{};
        double latOverDeadline{0};
        double bitsDone{0}, uplinkBits{0}, airBytes{0};
        int32_t offloaded{0}, retries{0}, lost{0};
        double e0Cpu{0}, e0Radio{0};
        double lastEnergy{0};
        // per episode
        std::array<int64_t, 3> totCreated{}, totDone{}, totLate{};
    };

    struct Ap
    {
        Ptr<Node> node;
        std::vector<Ptr<WifiNetDevice>> devs;     //!< per channel
        std::vector<Ptr<Socket>> sendSock;        //!< per channel, bound to its device
        Ptr<Socket> recvSock;
        std::vector<Ipv4Address> addr;            //!< per channel
        std::deque<std::pair<uint32_t, uint32_t>> cpuQ; //!< (user, task) FIFO, front in service
        EventId cpuEvent;
        Time cpuStart;
        std::unordered_map<uint64_t, std::pair<uint32_t, uint32_t>> inflight; //!< uid -> (user, task)
        std::unordered_map<uint64_t, std::vector<uint8_t>> reasm; //!< (user, task) -> got per seq
        std::unordered_map<uint64_t, uint32_t> reasmCount;        //!< distinct datagrams got
        // channel busy: per device, logged busy periods not yet past
        std::vector<double> busy;                 //!< per channel, s in this interval
        std::vector<std::vector<std::pair<Time, Time>>> pending; //!< per channel, [start, end)
    };

    void Build();
    void RefreshGains();
    void ApplyAction(uint32_t u, uint32_t target, uint32_t k, uint32_t f);
    void TrySwitch(uint32_t u);
    void ScheduleArrivals();
    void OnArrival(uint32_t u, int cls);
    // local CPU
    void LocalStartNext(uint32_t u);
    void LocalDone(uint32_t u);
    void LocalReschedule(uint32_t u, double oldHz);
    double LocalRemaining(uint32_t u) const;
    // uplink
    void Pump(uint32_t u);
    void SendDatagram(uint32_t u, uint32_t taskId, uint32_t seq, bool resend);
    void FlushUnsent(uint32_t u, uint32_t oldK);
    void ParkPeers(uint32_t u, uint32_t oldK);
    void UnparkPeers(uint32_t u, uint32_t newK);
    void ResendResult(uint32_t e, uint32_t u, uint32_t taskId);
    void OnUserAcked(uint32_t u, Ptr<const WifiMpdu> mpdu);
    void OnUserDropped(uint32_t u, WifiMacDropReason reason, Ptr<const WifiMpdu> mpdu);
    void OnUserTxPsdu(uint32_t u, uint64_t bytes, uint32_t retries);
    void OnUserRecv(uint32_t u, Ptr<Socket> sock);
    // server
    void OnApRecv(uint32_t e, Ptr<Socket> sock);
    void ServerStartNext(uint32_t e);
    void ServerDone(uint32_t e);
    double ServerBacklog(uint32_t e) const;
    void SendResult(uint32_t e, uint32_t u, uint32_t taskId);
    void OnApAcked(uint32_t e, Ptr<const WifiMpdu> mpdu);
    void OnApDropped(uint32_t e, WifiMacDropReason reason, Ptr<const WifiMpdu> mpdu);
    void OnApState(uint32_t e, uint32_t k, Time start, Time duration, WifiPhyState state);
    // tasks
    void Finish(uint32_t u, uint32_t taskId);
    void Remove(uint32_t u, uint32_t taskId);
    void SweepLate();
    uint32_t Held(const User& user) const;
    // outputs
    void BeginInterval();
    void EndInterval(const EdgeOffloadArrays& out, uint64_t events, double wall);
    /// Draw the next interval's arrivals (one Bernoulli draw and one offset per user and
    /// class, in that order) into m_next: drawn one interval ahead, as the twin does, so that
    /// the central heuristic can read them (next_arrivals) on both backends.
    void DrawArrivals();
    void WriteObs(const EdgeOffloadArrays& out);

    fedmarl::EdgeOffloadParams m_p;
    uint32_t m_u, m_e, m_k, m_f, m_w;
    std::vector<double> m_levelsHz;
    double m_noiseDbm;
    double m_rho;
    Time m_interval;
    uint32_t m_rngSeed;
    double m_initialEnergyJ{1e15}; //!< of each user's BasicEnergySource (never runs low)

    uint32_t m_t{0};
    bool m_started{false};
    uint64_t m_episodes{0};
    uint64_t m_run{0};
    Time m_t0;

    std::vector<User> m_users;
    std::vector<Ap> m_aps;
    std::unordered_map<uint32_t, uint32_t> m_userByIp;
    Ptr<YansWifiChannel> m_channel;
    Ptr<EdgeLinkLossModel> m_loss;
    Ptr<UniformRandomVariable> m_uniform;
    Ptr<FactoryAlleyMobilityManager> m_alleys; //!< mobility=alleys; null for random waypoint
    std::vector<double> m_snrDb;        //!< [u][e] at the current interval's start
    std::vector<double> m_next;         //!< [u][c] next interval's arrival offset (s), -1 none
    std::vector<double> m_broadcast;    //!< [e] backlog recorded at the last interval start
    std::vector<double> m_busyLast;     //!< [k] last interval's busy fraction
    std::array<double, kMetrics> m_counters{};
    std::vector<int32_t> m_histScratch = std::vector<int32_t>(3 * kHistBins, 0); //!< [C, H] this interval
};

} // namespace ns3

#endif // FEDMARL_EDGE_OFFLOAD_SCENARIO_H
