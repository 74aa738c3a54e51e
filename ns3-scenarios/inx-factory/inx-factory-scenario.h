/*
 * fedmarl-ns3: the inx-factory scenario at packet level: robots with in-X subnetworks in a
 * factory hall (mobility, InF channel, fading) over the packet-level MAC, one decision interval
 * per step.
 * SPDX-License-Identifier: GPL-2.0-only
 */

#ifndef FEDMARL_INX_FACTORY_SCENARIO_H
#define FEDMARL_INX_FACTORY_SCENARIO_H

#include "inx-factory-params.h"

#include "ns3/node-container.h"
#include "ns3/nstime.h"
#include "ns3/ptr.h"
#include "ns3/vector.h"

#include <array>
#include <cstdint>
#include <memory>
#include <span>
#include <cstdio>
#include <vector>

namespace ns3
{

class FactoryAlleyMobilityManager;
class InxSharedChannel;
class InxSubnetworkMac;
class MobilityModel;
class ThreeGppIndoorFactoryPropagationLossModel;
class UniformRandomVariable;

namespace fedmarl
{
class Ar1RayleighFading;
}

/**
 * @ingroup fedmarl
 * Views of the scenario's arrays: of the shared-memory segment, or of an ArrayStore in tests.
 * Shapes, dtypes and meanings: the array table InxFactoryArrayTable() (inx-factory-contract.cc,
 * printed by `fedmarl-inx-factory --contract-json`); N subnetworks, M devices, K channels, W
 * observation width, device d = n M + m.
 */
struct InxFactoryArrays
{
    std::span<int32_t> actions;        //!< [N] input: the channel each agent asks for
    std::span<float> obs;              //!< [N, W]
    std::span<float> reward;           //!< [N]
    std::span<float> rateFbl;          //!< [N, M] bps/Hz, delivered payload / (B T)
    std::span<float> rateShannon;      //!< [N, M] bps/Hz
    std::span<float> sinr;             //!< [N, M] linear
    std::span<float> interference;     //!< [N, M] W
    std::span<float> sinrPerChannel;   //!< [N, M, K] linear
    std::span<int32_t> channel;        //!< [N]
    std::span<uint8_t> switched;       //!< [N]
    std::span<float> coupling;         //!< [N, N] W
    std::span<int32_t> delivered;      //!< [N, M]
    std::span<int32_t> lost;           //!< [N, M]
    std::span<int32_t> dropped;        //!< [N, M]
    std::span<int32_t> queue;          //!< [N, M]
    std::span<float> delaySum;         //!< [N, M] s
    std::span<float> delayMax;         //!< [N, M] s
    std::span<int32_t> delayHist;      //!< [kDelayBins]
    std::span<float> airtime;          //!< [N] fraction of the interval
    std::span<double> metrics;         //!< [kMetrics]
    std::span<float> positions;        //!< [N, 2] AP x, y, m
};

/**
 * @ingroup fedmarl
 * @brief One copy of the inx-factory scenario at packet level, stepped one decision interval at
 *        a time (the ns-3 counterpart of pybridge/scenarios/inx_factory/twin.py).
 *
 * Reset(run) builds a fresh episode in the same process: Simulator::Destroy, RngSeedManager
 * seed 1 + (seed mod 4294944442) and run `run`, N access-point nodes moved by a
 * FactoryAlleyMobilityManager, M device nodes per AP (HierarchicalMobilityModel: a fixed
 * offset, uniform in a disc of subnetwork_radius, from the robot), the InF channel condition
 * and propagation loss models (LOS field, shadow field), AR(1) Rayleigh fading, the MAC
 * (InxSharedChannel + one InxSubnetworkMac per AP) and a uniformly random initial channel per
 * subnetwork; then it
 * simulates one warm-up interval [0, T) so the first observation is a real measurement. Every
 * random variable has a fixed stream, so the same (seed, run) reproduces an episode exactly.
 *
 * Step(actions): switching requests (twin's rule), t += 1; every large_scale_update_steps the
 * robots move by that many intervals and every link's path loss, LOS state and shadowing is
 * refreshed; the fading advances once; then [tT, (t+1)T) is simulated with the packet-level MAC
 * and the outputs are filled from its packet events.
 *
 * Memory: two N x (N M) tables of doubles (mean and per-interval link powers), 16 N^2 M bytes
 * (16 MB at N = 1000, M = 1).
 *
 * Fading, as in the twin: each device's own link and its max_faded_interferers strongest
 * interferers (re-chosen at each refresh) have an AR(1) process; weaker links count with their
 * mean power. A link that rejoins the faded set catches up exactly (rho^g). Exact for
 * N - 1 <= max_faded_interferers (the default N = 20).
 */
class InxFactoryScenario
{
  public:
    /// Number of entries of the metrics array.
    static constexpr uint32_t kMetrics = 16;
    /// Indices of the metrics array (named by kMetricNames, printed as constants.metrics).
    enum Metric : uint32_t
    {
        SIM_TIME = 0,      //!< simulated time at the interval's end, s
        STEP = 1,          //!< step index t
        EPISODES = 2,      //!< episodes started by this process
        RNG_RUN = 3,       //!< RngRun of the episode
        EVENTS = 4,        //!< ns-3 events executed in the interval
        TBS = 5,           //!< transport blocks sent in the interval
        CREATED = 6,       //!< packets created in the interval
        DELIVERED = 7,     //!< packets delivered in the interval
        LOST = 8,          //!< packets lost in the interval
        DROPPED = 9,       //!< packets dropped in the interval
        WALL_SECONDS = 10, //!< wall-clock seconds spent simulating the interval
    };
    /// The drive file's magic (--drive=FILE; the contract's constants.drive_magic).
    static constexpr const char* kDriveMagic = "FMDRIVE1";
    /// The fields of one drive record, in file order, "name:dtype:shape" (the contract's
    /// constants.drive_record: Python writes the file from it; SetDriveFile reads this order).
    static constexpr std::array<const char*, 3> kDriveRecord = {
        "channel:int32:N", "ap_xyz:float64:N,3", "device_xyz:float64:D,3"};
    /// Names of the metrics, by index (the contract's constants.metrics; the rest are reserved).
    static constexpr std::array<const char*, 11> kMetricNames = {
        "sim_time", "step", "episodes", "rng_run", "events", "tbs", "packets_created",
        "packets_delivered", "packets_lost", "packets_dropped", "wall_seconds"};

    /**
     * @param params validated parameters
     */
    explicit InxFactoryScenario(const fedmarl::InxFactoryParams& params);
    ~InxFactoryScenario();

    InxFactoryScenario(const InxFactoryScenario&) = delete;
    InxFactoryScenario& operator=(const InxFactoryScenario&) = delete;

    /**
     * Start an episode with ns-3 run number `run` and simulate its warm-up interval.
     * @param run the RngRun
     * @param out where the warm-up interval's results go
     */
    void Reset(uint64_t run, const InxFactoryArrays& out);

    /**
     * One decision step.
     * @param actions N channel requests
     * @param out where the interval's results go
     * @throws std::invalid_argument for an action outside [0, K) (naming the agent), or
     *         std::logic_error before the first Reset or after the episode's last step
     */
    void Step(std::span<const int32_t> actions, const InxFactoryArrays& out);

    /// Release every ns-3 object and destroy the simulator.
    void Teardown();

    /// @return the step index t (0 after Reset)
    uint32_t GetStep() const;
    /// @return true once episode_steps steps have run
    bool EpisodeOver() const;
    /// @return true after the first Reset
    bool Started() const;
    /// @return the parameters
    const fedmarl::InxFactoryParams& GetParams() const;
    /// @return N
    uint32_t GetN() const;
    /// @return M
    uint32_t GetM() const;
    /// @return K
    uint32_t GetK() const;
    /// @return W
    uint32_t GetW() const;
    /// @return the noise power per channel, W
    double GetNoisePower() const;
    /**
     * @param device a device index d = n M + m
     * @return its received signal power in the last interval (incl. fading), W
     */
    double GetSignalPower(uint32_t device) const;
    /**
     * @param ap an AP (subnetwork) index
     * @return its antenna position, m
     */
    Vector GetApPosition(uint32_t ap) const;
    /**
     * @param device a device index d = n M + m
     * @return its antenna position, m
     */
    Vector GetDevicePosition(uint32_t device) const;
    /// @return the MACs (for tests)
    const std::vector<Ptr<InxSubnetworkMac>>& GetMacs() const;
    /// @return the decision interval
    Time GetInterval() const;

    /**
     * Append every interval's channel state to a binary trace file (`--trace=FILE`), so the
     * twin can replay the same channel (pybridge/scenarios/inx_factory/replay.py reads it; the
     * layout is documented at WriteTrace). An empty path turns tracing off.
     * @param path the file, truncated on open
     */
    void SetTraceFile(const std::string& path);

    /**
     * Trace-driven mode (`--drive=FILE`): positions and channels come from FILE, step by step,
     * instead of the alley mobility and the agents' requests (no switching delay: the file's
     * channel is the one in use). Layout, native little-endian: magic "FMDRIVE1", u32 N, u32 D,
     * u32 E episodes, u32 S = episode_steps + 1 records per episode; then E x S records of
     * i32 channel[N], f64 ap_xyz[N][3], f64 device_xyz[D][3] (m). Record 0 of an episode is the
     * RESET warm-up interval, record t the interval of step t; the k-th RESET of the process
     * plays episode (k - 1) mod E. Written by pybridge/scenarios/inx_factory/trace_ns3.py.
     * @param path the file; empty turns the mode off
     * @throws std::runtime_error naming what in the file does not fit the parameters
     */
    void SetDriveFile(const std::string& path);

  private:
    /// One record of the drive file.
    struct DriveRecord
    {
        std::vector<uint32_t> channel; //!< [N]
        std::vector<Vector> ap;        //!< [N] m
        std::vector<Vector> device;    //!< [D] m
    };
    /// Apply record t of the current drive episode: positions, and channels set directly.
    /// @param switched set to 1 where a subnetwork's channel changed (may be null)
    void ApplyDrive(uint32_t t, std::vector<uint8_t>* switched);
    /// Append the current interval's record to the trace file (no-op without one).
    void WriteTrace();
    /// Place nodes, build models and MAC for a new episode.
    void Build();
    /// Path loss, LOS, shadowing of every link; faded sets; coupling.
    void RefreshLargeScale();
    /// Link powers of the interval: mean power times fading where faded.
    void SetIntervalPowers();
    /// Run [t T, (t+1) T) and fill `out`.
    void SimulateInterval(const InxFactoryArrays& out, const std::vector<uint8_t>& switched);
    /// Write every output array from the MACs' records.
    void Fill(const InxFactoryArrays& out,
              const std::vector<uint8_t>& switched,
              uint64_t events,
              double wallSeconds);

    std::FILE* m_trace{nullptr};   //!< --trace output, or none
    std::vector<std::vector<DriveRecord>> m_drive; //!< --drive episodes, or empty
    uint32_t m_driveEpisode{0};                    //!< the drive episode being played
    fedmarl::InxFactoryParams m_p; //!< parameters
    uint32_t m_n;                  //!< N
    uint32_t m_m;                  //!< M
    uint32_t m_k;                  //!< K
    uint32_t m_d;                  //!< D = N M
    uint32_t m_w;                  //!< W
    uint32_t m_nFaded;             //!< faded interferers per device
    double m_noiseW;               //!< noise power per channel, W
    double m_rho;                  //!< AR(1) coefficient per interval
    Time m_interval;               //!< T
    uint32_t m_rngSeed;            //!< RngSeedManager seed derived from `seed`

    uint32_t m_t{0};          //!< step index
    bool m_started{false};    //!< an episode exists
    uint64_t m_episodes{0};   //!< episodes started
    uint64_t m_run{0};        //!< RngRun of the episode

    NodeContainer m_apNodes;                                   //!< one per subnetwork
    NodeContainer m_deviceNodes;                               //!< M per subnetwork
    std::vector<Ptr<MobilityModel>> m_apMobility;              //!< AP positions
    std::vector<Ptr<MobilityModel>> m_deviceMobility;          //!< device positions
    Ptr<FactoryAlleyMobilityManager> m_mobility;               //!< moves the robots
    Ptr<ThreeGppIndoorFactoryPropagationLossModel> m_loss;     //!< InF path loss + shadowing
    std::unique_ptr<fedmarl::Ar1RayleighFading> m_fading;      //!< per-link fading
    Ptr<UniformRandomVariable> m_uniform;                      //!< offsets, initial channels
    Ptr<InxSharedChannel> m_channel;                           //!< the K channels
    std::vector<Ptr<InxSubnetworkMac>> m_macs;                 //!< one per AP

    std::vector<double> m_meanPower;            //!< [d][j] P_tx G_jd, W (no fading)
    bool m_restRowsCurrent{false}; //!< the channel's rows hold m_meanPower outside faded sets
    std::vector<std::vector<uint32_t>> m_faded; //!< per device: faded interferers
    std::vector<float> m_coupling;              //!< [n][i] mean over n's devices, diag 0
    std::vector<double> m_scratch;              //!< per-channel scratch
};

} // namespace ns3

#endif // FEDMARL_INX_FACTORY_SCENARIO_H
