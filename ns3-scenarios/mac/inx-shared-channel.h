/*
 * fedmarl-ns3: the K shared orthogonal channels of the inx-factory scenario, with per-receiver
 * interference computed from the exact set of overlapping co-channel transmissions.
 * SPDX-License-Identifier: GPL-2.0-only
 */

#ifndef FEDMARL_INX_SHARED_CHANNEL_H
#define FEDMARL_INX_SHARED_CHANNEL_H

#include "ns3/abort.h"
#include "ns3/nstime.h"
#include "ns3/object.h"

#include <algorithm>
#include <cstdint>
#include <vector>

namespace ns3
{

/**
 * @ingroup fedmarl
 * @brief The K orthogonal, frequency-flat channels that the access points (APs) of the
 *        inx-factory subnetworks share, one decision interval at a time.
 *
 * Why not a SpectrumChannel: ns-3's SpectrumChannel delivers every transmission to every
 * receiver (N^2 signal deliveries per packet, each carrying a PSD) and leaves the bookkeeping
 * of overlaps to each PHY's InterferenceHelper. Our channels are flat and orthogonal, so a PSD
 * over K channels carries one number per channel and adds nothing, while the N^2 fan-out would
 * make N = 1000 unaffordable. This class keeps instead, per channel, the transmissions of the
 * current decision interval (start, end, transmitting AP) in time order and, when a receiver
 * decodes a packet, returns the interference it saw over [t0, t1] as chunks of constant power,
 * computed from exactly the co-channel transmissions that overlap the packet in time (the
 * chunk-by-chunk rule of ns-3's InterferenceHelper). A query reads only the transmissions that
 * overlap the packet (two binary searches in time-sorted arrays and a scan of one
 * maximum-airtime window), never all N transmitters' states.
 *
 * Received powers come from the scenario, which evaluates the InF propagation-loss and fading
 * models: SetLinkPower(ap, rx, W) is P_tx G |h|^2 of the link for the current interval
 * (large-scale gain and fading are constant within a decision interval). Each receiver belongs
 * to one AP (its subnetwork), whose own transmissions are the signal, never interference.
 *
 * Contract with the MACs: within an interval, StartTransmission calls on one channel come in
 * non-decreasing start time and EndTransmission calls in non-decreasing end time (true when
 * they are made from simulator events at those times); an AP has at most one transmission open
 * and transmissions never cross the interval's end. BeginInterval clears the previous interval.
 *
 * The InterferenceFloor attribute may skip interferers whose power at a receiver is below a
 * fraction of the noise power (default 0: exact, every co-channel transmission counts).
 */
class InxSharedChannel : public Object
{
  public:
    /**
     * @brief Get the type ID.
     * @return the object TypeId
     */
    static TypeId GetTypeId();

    InxSharedChannel();
    ~InxSharedChannel() override;

    /// A stretch of constant interference seen by one receiver.
    struct Chunk
    {
        Time duration;       //!< length of the chunk
        double interference; //!< co-channel interference power during it, W (no noise)
    };

    /**
     * Size the link table (all powers 0) and say which AP each receiver belongs to.
     * @param nAps the number of access points (transmitters)
     * @param receiverOwner for each receiver, the index of its own AP (< nAps)
     */
    void Configure(uint32_t nAps, std::vector<uint32_t> receiverOwner);

    /// @return the number of access points
    uint32_t GetNAps() const;
    /// @return the number of receivers
    uint32_t GetNReceivers() const;
    /// @return the number of channels K (attribute NumChannels)
    uint32_t GetNChannels() const;
    /// @return the noise power over one channel, W (attribute NoisePower)
    double GetNoisePower() const;
    /**
     * @param rx a receiver
     * @return the AP the receiver belongs to
     */
    uint32_t GetReceiverOwner(uint32_t rx) const;

    /**
     * @param ap the transmitting AP
     * @param rx the receiver
     * @param watts the received power P_tx G |h|^2 of the link in this interval, W (>= 0)
     */
    void SetLinkPower(uint32_t ap, uint32_t rx, double watts);
    /**
     * @param ap the transmitting AP
     * @param rx the receiver
     * @return the received power of the link, W
     */
    double GetLinkPower(uint32_t ap, uint32_t rx) const;
    /**
     * Direct access to one receiver's row of the link table (GetNAps() values, W), for a bulk
     * refresh by the scenario; same meaning as SetLinkPower.
     * @param rx the receiver
     * @return a pointer to the row
     */
    double* LinkPowerRow(uint32_t rx);

    /**
     * Start a decision interval: forget the previous interval's transmissions and fix the
     * channel of every AP for [start, end).
     * @param start the interval's start
     * @param end the interval's end (> start)
     * @param apChannel the channel of each AP, in [0, K)
     */
    void BeginInterval(Time start, Time end, const std::vector<uint32_t>& apChannel);

    /// @return the start of the current interval
    Time GetIntervalStart() const;
    /// @return the end of the current interval
    Time GetIntervalEnd() const;
    /**
     * @param ap an AP
     * @return its channel in the current interval
     */
    uint32_t GetApChannel(uint32_t ap) const;

    /**
     * Register a transmission of an AP on its channel.
     * @param ap the AP (must have no transmission open)
     * @param start its start (not before the previous start on the channel, inside the interval)
     * @param duration its airtime (> 0; start + duration <= the interval's end)
     */
    void StartTransmission(uint32_t ap, Time start, Time duration);

    /**
     * Close the open transmission of an AP (called at its end time).
     * @param ap the AP
     */
    void EndTransmission(uint32_t ap);

    /**
     * The interference a receiver sees on a channel over [t0, t1], as chunks of constant power
     * in time order whose durations add up to t1 - t0. Counted: every transmission on the
     * channel, other than by the receiver's own AP, that overlaps the chunk, with its link
     * power to the receiver. Every transmission overlapping [t0, t1] must have been started, and
     * every one ending inside (t0, t1) ended (true at time t1 in a simulation).
     * @param rx the receiver
     * @param channel the channel
     * @param t0 start of the span
     * @param t1 end of the span (> t0)
     * @param out the chunks (cleared first)
     */
    void GetInterferenceChunks(uint32_t rx,
                               uint32_t channel,
                               Time t0,
                               Time t1,
                               std::vector<Chunk>& out) const;

    /**
     * The same chunks as GetInterferenceChunks, handed to `visit(ticks, interferenceW)` one by
     * one instead of collected (the decoder's hot path: no allocation, no Time objects).
     * @param rx the receiver
     * @param channel the channel
     * @param t0 start of the span, Time steps
     * @param t1 end of the span (> t0), Time steps
     * @param visit called as visit(int64_t durationTicks, double interferenceW) in time order
     */
    template <typename Visitor>
    void ForEachInterferenceChunk(uint32_t rx,
                                  uint32_t channel,
                                  int64_t t0,
                                  int64_t t1,
                                  Visitor&& visit) const;

    /**
     * @param ap an AP
     * @return how long it has transmitted in the current interval
     */
    Time GetBusyTime(uint32_t ap) const;

    /**
     * What the receiver's energy detector measured on each channel over the current interval:
     * I_k = sum over APs j on channel k (not its own) of P_jd * busy_j / T, W.
     * @param rx the receiver
     * @param perChannel resized to K and filled, W
     */
    void GetMeasuredInterference(uint32_t rx, std::vector<double>& perChannel) const;

    /**
     * The interference each channel would give the receiver if every AP transmitted all the
     * time (busy fraction 1): a reference-signal measurement, used before any traffic exists.
     * @param rx the receiver
     * @param perChannel resized to K and filled, W
     */
    void GetFullLoadInterference(uint32_t rx, std::vector<double>& perChannel) const;

    /// @return the number of transmissions started in the current interval
    uint64_t GetNTransmissions() const;

  protected:
    void DoDispose() override;

  private:
    /// A transmission as the per-channel start list holds it.
    struct Tx
    {
        int64_t start; //!< start, Time steps
        int64_t end;   //!< end, Time steps
        uint32_t ap;   //!< the transmitting AP
    };

    /// An end of a transmission, in the per-channel end list.
    struct TxEnd
    {
        int64_t end; //!< end, Time steps
        uint32_t ap; //!< the transmitting AP
    };

    /// The transmissions of one channel in the current interval.
    struct ChannelState
    {
        std::vector<Tx> starts;  //!< sorted by start (appended in start order)
        std::vector<TxEnd> ends; //!< sorted by end (appended as transmissions end)
        int64_t maxDuration{0};  //!< longest airtime registered, Time steps
    };

    /**
     * @param perChannel filled with sum_j P_jd * weight(j) per channel of j
     * @param rx the receiver
     * @param weight per-AP weight (busy fraction), or nullptr for 1
     */
    void SumPerChannel(uint32_t rx, const double* weight, std::vector<double>& perChannel) const;

    uint32_t m_nChannels{4};         //!< attribute: K
    double m_noisePower{0.0};        //!< attribute: noise power per channel, W
    double m_interferenceFloor{0.0}; //!< attribute: skip links below this fraction of noise

    uint32_t m_nAps{0};                   //!< number of APs
    std::vector<uint32_t> m_owner;        //!< own AP of each receiver
    std::vector<double> m_power;          //!< link table [rx][ap], W
    std::vector<uint32_t> m_apChannel;    //!< channel of each AP in the interval
    std::vector<ChannelState> m_channels; //!< K channel states
    std::vector<int64_t> m_openEnd;       //!< end of each AP's open transmission, -1 if none
    std::vector<int64_t> m_busy;          //!< airtime of each AP in the interval, Time steps
    int64_t m_start{0};                   //!< interval start, Time steps
    int64_t m_end{0};                     //!< interval end, Time steps
    uint64_t m_nTx{0};                    //!< transmissions started in the interval
    mutable std::vector<double> m_scratch; //!< busy fractions for GetMeasuredInterference
};

template <typename Visitor>
void
InxSharedChannel::ForEachInterferenceChunk(uint32_t rx,
                                           uint32_t channel,
                                           int64_t a,
                                           int64_t b,
                                           Visitor&& visit) const
{
    NS_ABORT_MSG_IF(rx >= m_owner.size() || channel >= m_nChannels,
                    "receiver " << rx << ", channel " << channel);
    NS_ABORT_MSG_IF(!(b > a), "empty span [" << a << ", " << b << "] (Time steps)");
    const ChannelState& ch = m_channels[channel];
    const double* row = m_power.data() + static_cast<size_t>(rx) * m_nAps;
    const uint32_t own = m_owner[rx];
    const double floorW = m_interferenceFloor * m_noisePower;
    // The power an AP adds at this receiver: 0 for the own AP and for links under the floor.
    auto powerOf = [row, own, floorW](uint32_t ap) {
        const double p = row[ap];
        return (ap == own || p < floorW) ? 0.0 : p;
    };

    // Interference just after a: transmissions with start <= a < end. Their start lies in
    // (a - maxDuration, a], a window of the time-sorted start list.
    const auto byStart = [](const Tx& tx, int64_t t) { return tx.start < t; };
    auto it = std::lower_bound(ch.starts.begin(), ch.starts.end(), a - ch.maxDuration + 1, byStart);
    double interference = 0.0;
    for (; it != ch.starts.end() && it->start <= a; ++it)
    {
        if (it->end > a)
        {
            interference += powerOf(it->ap);
        }
    }
    // Changes inside (a, b): starts (sorted) and ends (sorted as they were registered), merged
    // in time order. Ends at b itself may not be registered yet and need not be: they close
    // the last chunk anyway.
    auto s = it; // first start > a
    const auto sEnd = std::lower_bound(s, ch.starts.end(), b, byStart); // first start >= b
    auto e = std::upper_bound(ch.ends.begin(), ch.ends.end(), a, [](int64_t t, const TxEnd& x) {
        return t < x.end;
    });
    const auto eEnd = std::lower_bound(e, ch.ends.end(), b, [](const TxEnd& x, int64_t t) {
        return x.end < t;
    });
    int64_t cursor = a;
    auto close = [&](int64_t t) {
        if (t > cursor)
        {
            // Subtracting what was added can leave a rounding residue just below zero.
            visit(t - cursor, interference > 0.0 ? interference : 0.0);
            cursor = t;
        }
    };
    while (s != sEnd || e != eEnd)
    {
        // At equal times the order does not matter: a zero-length chunk is never emitted.
        if (e != eEnd && (s == sEnd || e->end <= s->start))
        {
            const double p = powerOf(e->ap);
            if (p > 0.0)
            {
                close(e->end);
                interference -= p;
            }
            ++e;
        }
        else
        {
            const double p = powerOf(s->ap);
            if (p > 0.0)
            {
                close(s->start);
                interference += p;
            }
            ++s;
        }
    }
    close(b);
}

} // namespace ns3

#endif // FEDMARL_INX_SHARED_CHANNEL_H
