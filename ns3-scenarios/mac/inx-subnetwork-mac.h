/*
 * fedmarl-ns3: packet-level downlink MAC of one in-X subnetwork (its access point and devices).
 * SPDX-License-Identifier: GPL-2.0-only
 */

#ifndef FEDMARL_INX_SUBNETWORK_MAC_H
#define FEDMARL_INX_SUBNETWORK_MAC_H

#include "inx-shared-channel.h"

#include "ns3/drop-tail-queue.h"
#include "ns3/event-id.h"
#include "ns3/nstime.h"
#include "ns3/object.h"
#include "ns3/packet.h"
#include "ns3/ptr.h"
#include "ns3/random-variable-stream.h"
#include "ns3/traced-callback.h"

#include <array>
#include <cstdint>
#include <vector>

namespace ns3
{

/**
 * @ingroup fedmarl
 * @brief Downlink MAC of one in-X subnetwork: its access point (AP) sends packets to its M
 *        devices over one of the K channels of an InxSharedChannel.
 *
 * Traffic: each device has an ns-3 DropTailQueue<Packet> of QueueSize packets; packets of
 * PacketSize bytes carry their creation time in an ns-3 TimestampTag. Traffic "full-buffer"
 * keeps an infinite backlog (packets are created the moment a transport block takes them, so
 * their delay is the airtime; the queue stays empty), "poisson" creates one packet per
 * PacketInterval per device on average (exponential gaps), "periodic" exactly one per
 * PacketInterval with a random phase. A packet arriving at a full queue is dropped.
 *
 * Access: the AP uses one channel at a time and serves its devices' queues round robin, one
 * transport block (TB) at a time, back to back while there is data. TB size by link
 * adaptation: gamma_est is the effective SINR of the previous TB to the device (its ACK/CQI
 * feedback; effective SINR = 2^(mean C) - 1 over the TB's chunks), or, for the first TB of an
 * episode or after a channel switch, the SINR the device measured on that channel in the
 * previous decision interval. r_est = FblSe(gamma_est, l, eps); a TB carries
 * P = min(queued, floor(l r_est / S)) packets of S = 8 PacketSize bits in
 * n = ceil(P S / r_est) <= l channel uses (P = 1, n = l when floor(l r_est / S) = 0), airtime
 * n / Bandwidth rounded up to whole Time steps. A TB never crosses the end of a decision
 * interval: P shrinks to what fits, or the AP idles until the boundary if one packet does not.
 *
 * Decoding at the TB's end: over the chunks of constant interference I_c that the shared channel
 * reports, gamma_c = S_rx / (I_c + noise), C_c = log2(1 + gamma_c), V_c = 1 - (1 + gamma_c)^-2,
 * n_c = n len_c / len, and the error probability is the normal approximation over parallel
 * channels, eps = Q((sum n_c C_c - k) / (log2(e) sqrt(sum n_c V_c))), k = P S (Polyanskiy, Poor,
 * Verdu, IEEE Trans. IT 56(5), 2010, Thm. 54 / eq. (296); Erseghe, IEEE Trans. IT 62(10), 2016,
 * for the parallel-channel form). A uniform draw U decides: success iff U >= eps. Success
 * delivers all P packets; failure loses them: there is no HARQ or retransmission (URLLC
 * traffic with a 5 ms decision interval; a lost TB is counted, its packets are gone).
 *
 * Channel switching (DoApplyChannelRequest) follows the numpy twin exactly: a request for a new
 * channel takes effect after U{1..MaxSwitchDelay} decision steps, requests while one is pending
 * are ignored, and a request for the channel in use is no request.
 *
 * Per decision interval the MAC counts, from packet events, per device: packets delivered,
 * payload bits delivered, packets lost and dropped, the sum and maximum of the delays of the
 * delivered packets, the queue length at the end; and for the AP: a delay histogram (64
 * log-spaced bins over 1e-6..1 s), its airtime and the number of TBs. EndInterval also takes
 * the devices' per-channel interference measurement from the shared channel, which link
 * adaptation uses in the next interval.
 */
class InxSubnetworkMac : public Object
{
  public:
    /**
     * @brief Get the type ID.
     * @return the object TypeId
     */
    static TypeId GetTypeId();

    InxSubnetworkMac();
    ~InxSubnetworkMac() override;

    /// Traffic models.
    enum class Traffic
    {
        FULL_BUFFER, //!< infinite backlog
        POISSON,     //!< Poisson arrivals per device
        PERIODIC     //!< one packet per interval per device, random phase
    };

    /// Number of bins of the delay histogram.
    static constexpr uint32_t kDelayBins = 64;
    /// Lower edge of the delay histogram, s (shorter delays count in bin 0).
    static constexpr double kDelayMin = 1e-6;
    /// Upper edge of the delay histogram, s (longer delays count in the last bin).
    static constexpr double kDelayMax = 1.0;

    /**
     * @param delay a packet delay, s
     * @return its bin: floor(64 log10(delay / 1e-6) / 6), clamped to [0, 63]
     */
    static uint32_t DelayBin(double delay);

    /// What happened to one device in the current decision interval.
    struct DeviceStats
    {
        uint32_t created{0};     //!< packets created (full-buffer: taken by a TB)
        uint32_t delivered{0};   //!< packets delivered
        uint32_t lost{0};        //!< packets lost in failed TBs
        uint32_t dropped{0};     //!< packets dropped at a full queue
        double deliveredBits{0}; //!< payload bits delivered
        double delaySum{0};      //!< sum of the delivered packets' delays, s
        double delayMax{0};      //!< largest delay of a delivered packet, s
        uint32_t queue{0};       //!< queue length at the end of the interval, packets
        uint32_t tbs{0};         //!< TBs sent to the device
        uint32_t tbPackets{0};   //!< packets carried by those TBs
    };

    /// One transport block, as the last one sent (for tests and traces).
    struct TbRecord
    {
        uint32_t device{0};         //!< device index in the subnetwork
        uint32_t packets{0};        //!< P
        uint32_t channelUses{0};    //!< n
        double sinrEstimate{0};     //!< gamma_est used for its size
        Time start;                 //!< start of transmission
        Time end;                   //!< end of transmission
        double effectiveSinr{0};    //!< 2^(mean C) - 1 over its chunks
        double errorProbability{0}; //!< eps
        bool success{false};        //!< decoded
    };

    /**
     * TracedCallback signature of the TbEnd trace source.
     * @param tb the TB that just ended (decoded or lost)
     */
    typedef void (*TbEndCallback)(const TbRecord& tb);

    /**
     * Attach the MAC to a shared channel: it sends as AP `ap` to the receivers `receivers`
     * (its devices, in order) and creates one queue per device. Attributes must be set before;
     * traffic starts with the first BeginInterval (after AssignStreams).
     * @param channel the shared channel (configured, with receivers' owner = ap)
     * @param ap this AP's index in the channel
     * @param receivers the channel's receiver indices of this AP's devices
     */
    void Install(Ptr<InxSharedChannel> channel, uint32_t ap, std::vector<uint32_t> receivers);

    /// @return the AP index
    uint32_t GetAp() const;
    /// @return the number of devices M
    uint32_t GetNDevices() const;

    /**
     * Set the channel directly (the initial channel of an episode; no switching delay).
     * @param channel the channel, < K
     */
    void SetChannel(uint32_t channel);
    /// @return the channel in use
    uint32_t GetChannel() const;
    /// @return the channel a switch is pending to, or -1
    int32_t GetPendingChannel() const;
    /// @return the decision steps left until the pending switch, 0 if none
    uint32_t GetSwitchCountdown() const;

    /**
     * The agent's channel request at a decision step (twin's rule, see the class comment):
     * first a pending switch counts down and may take effect, then a request for another
     * channel starts a delay of U{1..MaxSwitchDelay} steps if none is pending.
     * @param requested the requested channel, < K
     * @return true when a switch took effect at this step
     */
    bool ApplyChannelRequest(uint32_t requested);

    /**
     * The devices' per-channel SINR estimate that link adaptation falls back to (the first TB of
     * an episode, or after a switch); EndInterval replaces it with each interval's measurement.
     * @param device device index
     * @param sinrPerChannel K linear SINRs
     */
    void SetMeasuredSinr(uint32_t device, const std::vector<double>& sinrPerChannel);

    /**
     * Start a decision interval at the current simulation time: reset the interval's counters
     * and start sending. The shared channel's BeginInterval must have been called.
     * @param end the end of the interval
     */
    void BeginInterval(Time end);

    /**
     * Close the interval (call after the simulator ran up to and including its end): record the
     * queue lengths and the devices' per-channel measurements.
     */
    void EndInterval();

    /**
     * @param device device index
     * @return the counters of the current (or just ended) interval
     */
    const DeviceStats& GetDeviceStats(uint32_t device) const;
    /// @return the delay histogram of the interval (packets delivered, per bin)
    const std::array<uint32_t, kDelayBins>& GetDelayHistogram() const;
    /// @return the airtime of the interval
    Time GetAirtime() const;
    /// @return the number of TBs of the interval
    uint32_t GetNTbs() const;
    /**
     * @param device device index
     * @return the measured interference per channel at the device in the last ended interval, W
     */
    const std::vector<double>& GetMeasuredInterference(uint32_t device) const;
    /**
     * @param device device index
     * @return the measured SINR per channel at the device in the last ended interval (linear)
     */
    const std::vector<double>& GetMeasuredSinr(uint32_t device) const;
    /// @return the last TB that ended (valid once one has)
    const TbRecord& GetLastTb() const;
    /**
     * @param device device index
     * @return the device's queue
     */
    Ptr<DropTailQueue<Packet>> GetQueue(uint32_t device) const;

    /**
     * Assign fixed random variable streams (decoding, arrival gaps, phases, switching delay).
     * @param stream first stream index to use
     * @return the number of streams used (4)
     */
    int64_t AssignStreams(int64_t stream);

  protected:
    void DoDispose() override;

  private:
    /// Per-device state.
    struct Device
    {
        uint32_t rx{0};                        //!< receiver index in the shared channel
        Ptr<DropTailQueue<Packet>> queue;      //!< its packets
        EventId arrival;                       //!< next packet arrival (poisson, periodic)
        bool feedbackValid{false};             //!< lastEffectiveSinr is usable
        uint32_t feedbackChannel{0};           //!< channel the feedback was measured on
        double lastEffectiveSinr{0};           //!< effective SINR of the previous TB
        std::vector<double> measuredSinr;      //!< per channel, previous interval
        std::vector<double> measuredInterference; //!< per channel, previous interval, W
        DeviceStats stats;                     //!< current interval
    };

    /// Schedule every device's first packet arrival (poisson, periodic); at the first interval.
    void StartTraffic();
    /// Schedule the next packet arrival of a device (poisson, periodic).
    void ScheduleArrival(uint32_t device, Time delay);
    /// A packet arrives at a device's queue.
    void Arrive(uint32_t device);
    /// @return a new packet stamped with the current time
    Ptr<Packet> NewPacket() const;
    /// Start the next TB if the AP is free and some device has data.
    void TryStartTb();
    /// The current TB ends: decode, deliver or lose, go on.
    void EndTb();

    // Attributes
    uint32_t m_packetSize;       //!< bytes
    uint32_t m_queueSize;        //!< packets
    Traffic m_traffic;           //!< traffic model
    Time m_packetInterval;       //!< mean / exact gap between packets of a device
    uint32_t m_blocklength;      //!< l, channel uses
    double m_errorProbability;   //!< target eps
    double m_bandwidth;          //!< Hz
    uint32_t m_maxSwitchDelay;   //!< tau_max, decision steps

    Ptr<InxSharedChannel> m_channel;        //!< the shared channel
    uint32_t m_ap{0};                       //!< this AP's index
    std::vector<Device> m_devices;          //!< its devices
    uint32_t m_current{0};                  //!< channel in use
    int32_t m_pending{-1};                  //!< channel a switch is pending to
    uint32_t m_countdown{0};                //!< steps until the pending switch
    uint32_t m_nextDevice{0};               //!< round-robin pointer
    Time m_intervalEnd;                     //!< end of the current interval
    bool m_inInterval{false};               //!< between BeginInterval and EndInterval
    bool m_waitBoundary{false};             //!< one packet does not fit before the end
    bool m_busy{false};                     //!< a TB is on the air
    bool m_trafficStarted{false};           //!< first arrivals scheduled
    TbRecord m_tb;                          //!< the TB on the air
    TbRecord m_lastTb;                      //!< the last TB that ended
    TracedCallback<const TbRecord&> m_tbEndTrace; //!< fired when a TB ends
    std::vector<Ptr<Packet>> m_tbPackets;   //!< its packets
    std::array<uint32_t, kDelayBins> m_delayHist{}; //!< current interval
    Time m_airtime;                         //!< current interval
    uint32_t m_nTbs{0};                     //!< current interval

    Ptr<UniformRandomVariable> m_decodeRv;     //!< U for the decoding decision
    Ptr<ExponentialRandomVariable> m_gapRv;    //!< poisson arrival gaps, mean 1
    Ptr<UniformRandomVariable> m_phaseRv;      //!< periodic phases
    Ptr<UniformRandomVariable> m_switchRv;     //!< switching delays
};

} // namespace ns3

#endif // FEDMARL_INX_SUBNETWORK_MAC_H
