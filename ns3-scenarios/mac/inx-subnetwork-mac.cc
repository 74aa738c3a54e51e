/*
 * fedmarl-ns3: packet-level downlink MAC of one in-X subnetwork.
 * SPDX-License-Identifier: GPL-2.0-only
 */

#include "inx-subnetwork-mac.h"

#include "inf-channel.h"

#include "ns3/double.h"
#include "ns3/enum.h"
#include "ns3/log.h"
#include "ns3/queue-size.h"
#include "ns3/simulator.h"
#include "ns3/timestamp-tag.h"
#include "ns3/trace-source-accessor.h"
#include "ns3/uinteger.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numbers>
#include <stdexcept>
#include <string>

namespace ns3
{

NS_LOG_COMPONENT_DEFINE("InxSubnetworkMac");

NS_OBJECT_ENSURE_REGISTERED(InxSubnetworkMac);

namespace
{

/// log2(e): converts the dispersion's nats to bits.
constexpr double kLog2E = std::numbers::log2e;

/// Gaussian tail Q(x) = P(Z > x).
double
GaussianQ(double x)
{
    return 0.5 * std::erfc(x / std::numbers::sqrt2);
}

} // namespace

TypeId
InxSubnetworkMac::GetTypeId()
{
    static TypeId tid =
        TypeId("ns3::InxSubnetworkMac")
            .SetParent<Object>()
            .SetGroupName("Fedmarl")
            .AddConstructor<InxSubnetworkMac>()
            .AddAttribute("PacketSize",
                          "Payload of every packet (bytes).",
                          UintegerValue(32),
                          MakeUintegerAccessor(&InxSubnetworkMac::m_packetSize),
                          MakeUintegerChecker<uint32_t>(1))
            .AddAttribute("QueueSize",
                          "Capacity of each device's DropTailQueue (packets).",
                          UintegerValue(1000),
                          MakeUintegerAccessor(&InxSubnetworkMac::m_queueSize),
                          MakeUintegerChecker<uint32_t>(1))
            .AddAttribute("Traffic",
                          "Downlink traffic per device: full-buffer (infinite backlog), "
                          "poisson (mean gap PacketInterval) or periodic (gap PacketInterval, "
                          "random phase).",
                          EnumValue<Traffic>(Traffic::FULL_BUFFER),
                          MakeEnumAccessor<Traffic>(&InxSubnetworkMac::m_traffic),
                          MakeEnumChecker(Traffic::FULL_BUFFER,
                                          "full-buffer",
                                          Traffic::POISSON,
                                          "poisson",
                                          Traffic::PERIODIC,
                                          "periodic"))
            .AddAttribute("PacketInterval",
                          "Mean (poisson) or exact (periodic) time between two packets of a "
                          "device (s).",
                          TimeValue(MicroSeconds(100)),
                          MakeTimeAccessor(&InxSubnetworkMac::m_packetInterval),
                          MakeTimeChecker(TimeStep(1)))
            .AddAttribute("Blocklength",
                          "Blocklength l of a full TB (channel uses); link adaptation aims at "
                          "ErrorProbability at this length.",
                          UintegerValue(256),
                          MakeUintegerAccessor(&InxSubnetworkMac::m_blocklength),
                          MakeUintegerChecker<uint32_t>(1))
            .AddAttribute("ErrorProbability",
                          "Target block error probability of link adaptation (dimensionless).",
                          DoubleValue(1e-5),
                          MakeDoubleAccessor(&InxSubnetworkMac::m_errorProbability),
                          MakeDoubleChecker<double>(1e-300, 0.5))
            .AddAttribute("Bandwidth",
                          "Bandwidth of a channel (Hz): one channel use lasts 1 / Bandwidth.",
                          DoubleValue(10e6),
                          MakeDoubleAccessor(&InxSubnetworkMac::m_bandwidth),
                          MakeDoubleChecker<double>(1.0))
            .AddAttribute("MaxSwitchDelay",
                          "tau_max: a channel switch takes effect U{1..tau_max} decision steps "
                          "after the request (decision steps).",
                          UintegerValue(10),
                          MakeUintegerAccessor(&InxSubnetworkMac::m_maxSwitchDelay),
                          MakeUintegerChecker<uint32_t>(1))
            .AddTraceSource("TbEnd",
                            "A transport block ended: its size, SINR estimate, effective SINR, "
                            "error probability and whether it was decoded.",
                            MakeTraceSourceAccessor(&InxSubnetworkMac::m_tbEndTrace),
                            "ns3::InxSubnetworkMac::TbEndCallback");
    return tid;
}

InxSubnetworkMac::InxSubnetworkMac()
    : m_decodeRv(CreateObject<UniformRandomVariable>()),
      m_gapRv(CreateObject<ExponentialRandomVariable>()),
      m_phaseRv(CreateObject<UniformRandomVariable>()),
      m_switchRv(CreateObject<UniformRandomVariable>())
{
    NS_LOG_FUNCTION(this);
    // Unit-mean gaps, scaled by PacketInterval when drawn: the attribute may change after
    // construction.
    m_gapRv->SetAttribute("Mean", DoubleValue(1.0));
}

InxSubnetworkMac::~InxSubnetworkMac()
{
    NS_LOG_FUNCTION(this);
}

void
InxSubnetworkMac::DoDispose()
{
    NS_LOG_FUNCTION(this);
    for (auto& d : m_devices)
    {
        Simulator::Cancel(d.arrival);
        d.queue = nullptr;
    }
    m_devices.clear();
    m_tbPackets.clear();
    m_channel = nullptr;
    m_decodeRv = nullptr;
    m_gapRv = nullptr;
    m_phaseRv = nullptr;
    m_switchRv = nullptr;
    Object::DoDispose();
}

int64_t
InxSubnetworkMac::AssignStreams(int64_t stream)
{
    NS_LOG_FUNCTION(this << stream);
    m_decodeRv->SetStream(stream);
    m_gapRv->SetStream(stream + 1);
    m_phaseRv->SetStream(stream + 2);
    m_switchRv->SetStream(stream + 3);
    return 4;
}

uint32_t
InxSubnetworkMac::DelayBin(double delay)
{
    if (!(delay > kDelayMin))
    {
        return 0;
    }
    const double x = kDelayBins * std::log10(delay / kDelayMin) / std::log10(kDelayMax / kDelayMin);
    return std::min<uint32_t>(kDelayBins - 1, static_cast<uint32_t>(x));
}

void
InxSubnetworkMac::Install(Ptr<InxSharedChannel> channel, uint32_t ap, std::vector<uint32_t> receivers)
{
    NS_LOG_FUNCTION(this << channel << ap << receivers.size());
    if (!m_devices.empty())
    {
        throw std::logic_error("InxSubnetworkMac::Install may be called only once");
    }
    if (receivers.empty())
    {
        throw std::invalid_argument("InxSubnetworkMac: a subnetwork needs at least one device");
    }
    const uint32_t k = channel->GetNChannels();
    for (uint32_t rx : receivers)
    {
        if (rx >= channel->GetNReceivers() || channel->GetReceiverOwner(rx) != ap)
        {
            throw std::invalid_argument("InxSubnetworkMac: receiver " + std::to_string(rx) +
                                        " does not belong to AP " + std::to_string(ap));
        }
    }
    m_channel = channel;
    m_ap = ap;
    m_devices.resize(receivers.size());
    for (size_t m = 0; m < receivers.size(); ++m)
    {
        auto& d = m_devices[m];
        d.rx = receivers[m];
        d.queue = CreateObject<DropTailQueue<Packet>>();
        d.queue->SetMaxSize(QueueSize(QueueSizeUnit::PACKETS, m_queueSize));
        d.measuredSinr.assign(k, 0.0);
        d.measuredInterference.assign(k, 0.0);
    }
    m_tbPackets.reserve(64);
}

void
InxSubnetworkMac::StartTraffic()
{
    m_trafficStarted = true;
    if (m_traffic == Traffic::FULL_BUFFER)
    {
        return;
    }
    for (uint32_t m = 0; m < m_devices.size(); ++m)
    {
        // Periodic sources start at a uniformly random phase so that devices do not all send
        // at the same instants; Poisson sources are memoryless and start with one gap.
        const double first =
            m_traffic == Traffic::POISSON ? m_gapRv->GetValue() : m_phaseRv->GetValue();
        ScheduleArrival(m,
                        TimeStep(static_cast<int64_t>(
                            first * static_cast<double>(m_packetInterval.GetTimeStep()))));
    }
}

uint32_t
InxSubnetworkMac::GetAp() const
{
    return m_ap;
}

uint32_t
InxSubnetworkMac::GetNDevices() const
{
    return static_cast<uint32_t>(m_devices.size());
}

void
InxSubnetworkMac::SetChannel(uint32_t channel)
{
    NS_LOG_FUNCTION(this << channel);
    NS_ABORT_MSG_IF(m_channel && channel >= m_channel->GetNChannels(), "no channel " << channel);
    m_current = channel;
    m_pending = -1;
    m_countdown = 0;
}

uint32_t
InxSubnetworkMac::GetChannel() const
{
    return m_current;
}

int32_t
InxSubnetworkMac::GetPendingChannel() const
{
    return m_pending;
}

uint32_t
InxSubnetworkMac::GetSwitchCountdown() const
{
    return m_countdown;
}

bool
InxSubnetworkMac::ApplyChannelRequest(uint32_t requested)
{
    NS_LOG_FUNCTION(this << requested);
    if (m_channel && requested >= m_channel->GetNChannels())
    {
        throw std::invalid_argument("InxSubnetworkMac: requested channel " +
                                    std::to_string(requested) + " is not in [0, " +
                                    std::to_string(m_channel->GetNChannels()) + ")");
    }
    // The order is the twin's (_apply_switching): count down, complete, then accept a request.
    bool done = false;
    if (m_pending >= 0)
    {
        --m_countdown;
        if (m_countdown == 0)
        {
            m_current = static_cast<uint32_t>(m_pending);
            m_pending = -1;
            done = true;
        }
    }
    // While a switch is pending the radio is retuning: further requests are ignored.
    if (requested != m_current && m_pending < 0)
    {
        m_pending = static_cast<int32_t>(requested);
        m_countdown = m_switchRv->GetInteger(1, m_maxSwitchDelay);
        NS_LOG_LOGIC("AP " << m_ap << " switches to " << requested << " in " << m_countdown
                           << " steps");
    }
    return done;
}

void
InxSubnetworkMac::SetMeasuredSinr(uint32_t device, const std::vector<double>& sinrPerChannel)
{
    auto& d = m_devices.at(device);
    NS_ABORT_MSG_IF(sinrPerChannel.size() != d.measuredSinr.size(), "one SINR per channel");
    d.measuredSinr = sinrPerChannel;
}

void
InxSubnetworkMac::BeginInterval(Time end)
{
    NS_LOG_FUNCTION(this << end);
    NS_ABORT_MSG_IF(m_busy, "a TB crossed the interval boundary");
    NS_ABORT_MSG_IF(m_channel->GetApChannel(m_ap) != m_current,
                    "the shared channel has AP " << m_ap << " on another channel");
    if (!m_trafficStarted)
    {
        // Not at Install: the first draws must come after AssignStreams.
        StartTraffic();
    }
    m_intervalEnd = end;
    m_inInterval = true;
    m_waitBoundary = false;
    for (auto& d : m_devices)
    {
        d.stats = DeviceStats{};
    }
    m_delayHist.fill(0);
    m_airtime = Time(0);
    m_nTbs = 0;
    TryStartTb();
}

void
InxSubnetworkMac::EndInterval()
{
    NS_LOG_FUNCTION(this);
    NS_ABORT_MSG_IF(m_busy, "EndInterval with a TB on the air");
    m_inInterval = false;
    const double noise = m_channel->GetNoisePower();
    for (auto& d : m_devices)
    {
        d.stats.queue = d.queue->GetNPackets();
        m_channel->GetMeasuredInterference(d.rx, d.measuredInterference);
        const double s = m_channel->GetLinkPower(m_ap, d.rx);
        for (size_t k = 0; k < d.measuredSinr.size(); ++k)
        {
            d.measuredSinr[k] = s / (d.measuredInterference[k] + noise);
        }
    }
}

void
InxSubnetworkMac::ScheduleArrival(uint32_t device, Time delay)
{
    m_devices[device].arrival =
        Simulator::Schedule(delay, &InxSubnetworkMac::Arrive, this, device);
}

Ptr<Packet>
InxSubnetworkMac::NewPacket() const
{
    Ptr<Packet> p = Create<Packet>(m_packetSize);
    p->AddPacketTag(TimestampTag(Simulator::Now()));
    return p;
}

void
InxSubnetworkMac::Arrive(uint32_t device)
{
    auto& d = m_devices[device];
    ++d.stats.created;
    if (!d.queue->Enqueue(NewPacket()))
    {
        ++d.stats.dropped;
        NS_LOG_LOGIC("AP " << m_ap << " device " << device << ": queue full, packet dropped");
    }
    const double gap = m_traffic == Traffic::POISSON ? m_gapRv->GetValue() : 1.0;
    ScheduleArrival(device,
                    TimeStep(std::max<int64_t>(
                        1,
                        static_cast<int64_t>(gap * static_cast<double>(
                                                       m_packetInterval.GetTimeStep())))));
    if (!m_busy && !m_waitBoundary && m_inInterval)
    {
        TryStartTb();
    }
}

void
InxSubnetworkMac::TryStartTb()
{
    if (m_busy || m_waitBoundary || !m_inInterval)
    {
        return;
    }
    const uint32_t nDev = GetNDevices();
    const bool fullBuffer = m_traffic == Traffic::FULL_BUFFER;
    // Round robin over devices with data.
    uint32_t m = m_nextDevice;
    uint32_t queued = 0;
    for (uint32_t tried = 0; tried < nDev; ++tried, m = (m + 1) % nDev)
    {
        queued = fullBuffer ? std::numeric_limits<uint32_t>::max()
                            : m_devices[m].queue->GetNPackets();
        if (queued > 0)
        {
            break;
        }
    }
    if (queued == 0)
    {
        return; // idle until a packet arrives
    }
    auto& dev = m_devices[m];

    // Link adaptation: the previous TB's effective SINR on this channel, else the measurement.
    const double gammaEst = dev.feedbackValid && dev.feedbackChannel == m_current
                                ? dev.lastEffectiveSinr
                                : dev.measuredSinr[m_current];
    const double rEst = fedmarl::FblSe(gammaEst, m_blocklength, m_errorProbability);
    const double bits = 8.0 * m_packetSize;

    // Channel uses that fit before the interval ends (airtime of n uses, rounded up to whole
    // Time steps, must not pass the boundary).
    const double ticksPerSecond = static_cast<double>(Seconds(1).GetTimeStep());
    auto airtimeTicks = [&](uint64_t n) {
        const double x = static_cast<double>(n) * ticksPerSecond / m_bandwidth;
        return static_cast<int64_t>(std::ceil(x - 1e-6));
    };
    const int64_t left = (m_intervalEnd - Simulator::Now()).GetTimeStep();
    auto nFit = static_cast<uint64_t>(
        std::max(0.0, std::floor(static_cast<double>(left) * m_bandwidth / ticksPerSecond + 1e-9)));
    while (nFit > 0 && airtimeTicks(nFit) > left)
    {
        --nFit;
    }

    const uint64_t perBlock = rEst > 0.0 ? static_cast<uint64_t>(std::floor(m_blocklength * rEst / bits)) : 0;
    uint64_t packets = 0;
    uint64_t uses = 0;
    if (perBlock >= 1)
    {
        packets = std::min<uint64_t>(queued, perBlock);
        if (nFit < m_blocklength)
        {
            packets = std::min<uint64_t>(
                packets,
                static_cast<uint64_t>(std::floor(static_cast<double>(nFit) * rEst / bits)));
        }
        if (packets > 0)
        {
            uses = std::min<uint64_t>(
                m_blocklength,
                static_cast<uint64_t>(std::ceil(static_cast<double>(packets) * bits / rEst)));
        }
    }
    else
    {
        // Not even one packet per full block at the estimated rate: send one packet over the
        // whole blocklength and let the channel decide.
        packets = 1;
        uses = m_blocklength;
    }
    if (packets == 0 || uses > nFit)
    {
        m_waitBoundary = true;
        NS_LOG_LOGIC("AP " << m_ap << " idles until " << m_intervalEnd << ": " << nFit
                           << " channel uses left");
        return;
    }

    const Time airtime = TimeStep(airtimeTicks(uses));
    m_tbPackets.clear();
    for (uint64_t i = 0; i < packets; ++i)
    {
        if (fullBuffer)
        {
            ++dev.stats.created;
            m_tbPackets.push_back(NewPacket());
        }
        else
        {
            m_tbPackets.push_back(dev.queue->Dequeue());
        }
    }
    m_tb = TbRecord{};
    m_tb.device = m;
    m_tb.packets = static_cast<uint32_t>(packets);
    m_tb.channelUses = static_cast<uint32_t>(uses);
    m_tb.sinrEstimate = gammaEst;
    m_tb.start = Simulator::Now();
    m_tb.end = m_tb.start + airtime;
    m_busy = true;
    m_nextDevice = (m + 1) % nDev;
    ++m_nTbs;
    ++dev.stats.tbs;
    dev.stats.tbPackets += m_tb.packets;
    m_airtime += airtime;
    m_channel->StartTransmission(m_ap, m_tb.start, airtime);
    Simulator::Schedule(airtime, &InxSubnetworkMac::EndTb, this);
}

void
InxSubnetworkMac::EndTb()
{
    auto& dev = m_devices[m_tb.device];
    m_channel->EndTransmission(m_ap);
    const double signal = m_channel->GetLinkPower(m_ap, dev.rx);
    const double noise = m_channel->GetNoisePower();
    const int64_t t0 = m_tb.start.GetTimeStep();
    const int64_t t1 = m_tb.end.GetTimeStep();
    // Normal approximation over the TB's parallel chunks: sum_c len_c C_c and sum_c len_c V_c
    // (scaled by n / len below, i.e. n_c = n len_c / len).
    double lenC = 0.0;
    double lenV = 0.0;
    m_channel->ForEachInterferenceChunk(
        dev.rx,
        m_current,
        t0,
        t1,
        [&lenC, &lenV, signal, noise](int64_t ticks, double interference) {
            // q = 1 / (1 + gamma) = (I + N) / (I + N + S): C = -log2 q, V = 1 - q^2, with one
            // division per chunk (this loop runs ~10^8 times per interval at N = 1000).
            const double in = interference + noise;
            const double q = in / (in + signal);
            const double len = static_cast<double>(ticks);
            lenC -= len * std::log2(q);
            lenV += len * (1.0 - q * q);
        });
    const double len = static_cast<double>(t1 - t0);
    const double n = m_tb.channelUses;
    const double sumC = n * lenC / len;
    const double sumV = n * lenV / len;
    const double weightedC = lenC / len; // mean capacity per channel use
    const double k = static_cast<double>(m_tb.packets) * 8.0 * m_packetSize;
    double eps;
    if (sumV > 0.0)
    {
        eps = GaussianQ((sumC - k) / (kLog2E * std::sqrt(sumV)));
    }
    else
    {
        eps = sumC >= k ? 0.0 : 1.0; // no signal at all (gamma = 0): C = V = 0
    }
    const double u = m_decodeRv->GetValue();
    m_tb.effectiveSinr = std::exp2(weightedC) - 1.0;
    m_tb.errorProbability = eps;
    m_tb.success = u >= eps;

    const Time now = Simulator::Now();
    auto& st = dev.stats;
    if (m_tb.success)
    {
        TimestampTag tag;
        for (const auto& p : m_tbPackets)
        {
            const bool tagged = p->PeekPacketTag(tag);
            NS_ASSERT_MSG(tagged, "a packet without its creation timestamp");
            const double delay = (now - tag.GetTimestamp()).GetSeconds();
            ++st.delivered;
            st.deliveredBits += 8.0 * p->GetSize();
            st.delaySum += delay;
            st.delayMax = std::max(st.delayMax, delay);
            ++m_delayHist[DelayBin(delay)];
        }
    }
    else
    {
        st.lost += m_tb.packets; // no HARQ: the packets are gone
        NS_LOG_LOGIC("AP " << m_ap << " device " << m_tb.device << ": TB of " << m_tb.packets
                           << " packets lost, eps = " << eps);
    }
    // ACK/NACK with CQI: the effective SINR sizes the device's next TB on this channel.
    dev.lastEffectiveSinr = m_tb.effectiveSinr;
    dev.feedbackChannel = m_current;
    dev.feedbackValid = true;
    m_tbPackets.clear();
    m_busy = false;
    m_lastTb = m_tb;
    m_tbEndTrace(m_lastTb);
    TryStartTb();
}

const InxSubnetworkMac::DeviceStats&
InxSubnetworkMac::GetDeviceStats(uint32_t device) const
{
    return m_devices.at(device).stats;
}

const std::array<uint32_t, InxSubnetworkMac::kDelayBins>&
InxSubnetworkMac::GetDelayHistogram() const
{
    return m_delayHist;
}

Time
InxSubnetworkMac::GetAirtime() const
{
    return m_airtime;
}

uint32_t
InxSubnetworkMac::GetNTbs() const
{
    return m_nTbs;
}

const std::vector<double>&
InxSubnetworkMac::GetMeasuredInterference(uint32_t device) const
{
    return m_devices.at(device).measuredInterference;
}

const std::vector<double>&
InxSubnetworkMac::GetMeasuredSinr(uint32_t device) const
{
    return m_devices.at(device).measuredSinr;
}

const InxSubnetworkMac::TbRecord&
InxSubnetworkMac::GetLastTb() const
{
    return m_lastTb;
}

Ptr<DropTailQueue<Packet>>
InxSubnetworkMac::GetQueue(uint32_t device) const
{
    return m_devices.at(device).queue;
}

} // namespace ns3
