/*
 * fedmarl-ns3: the K shared orthogonal channels of the inx-factory scenario.
 * SPDX-License-Identifier: GPL-2.0-only
 */

#include "inx-shared-channel.h"

#include "ns3/double.h"
#include "ns3/log.h"
#include "ns3/uinteger.h"

#include <algorithm>
#include <stdexcept>
#include <string>

namespace ns3
{

NS_LOG_COMPONENT_DEFINE("InxSharedChannel");

NS_OBJECT_ENSURE_REGISTERED(InxSharedChannel);

TypeId
InxSharedChannel::GetTypeId()
{
    static TypeId tid =
        TypeId("ns3::InxSharedChannel")
            .SetParent<Object>()
            .SetGroupName("Fedmarl")
            .AddConstructor<InxSharedChannel>()
            .AddAttribute("NumChannels",
                          "Number K of orthogonal frequency-flat channels (dimensionless).",
                          UintegerValue(4),
                          MakeUintegerAccessor(&InxSharedChannel::m_nChannels),
                          MakeUintegerChecker<uint32_t>(1))
            .AddAttribute("NoisePower",
                          "Noise power over one channel at every receiver (W): thermal noise "
                          "plus the noise figure over the channel bandwidth.",
                          DoubleValue(0.0),
                          MakeDoubleAccessor(&InxSharedChannel::m_noisePower),
                          MakeDoubleChecker<double>(0.0))
            .AddAttribute("InterferenceFloor",
                          "Interferers whose link power at a receiver is below this fraction "
                          "of NoisePower are left out of the chunk computation "
                          "(dimensionless; 0 = exact, every co-channel transmission counts). "
                          "The per-channel measurement always counts every interferer.",
                          DoubleValue(0.0),
                          MakeDoubleAccessor(&InxSharedChannel::m_interferenceFloor),
                          MakeDoubleChecker<double>(0.0, 1e-3));
    return tid;
}

InxSharedChannel::InxSharedChannel()
{
    NS_LOG_FUNCTION(this);
}

InxSharedChannel::~InxSharedChannel()
{
    NS_LOG_FUNCTION(this);
}

void
InxSharedChannel::DoDispose()
{
    NS_LOG_FUNCTION(this);
    m_power.clear();
    m_channels.clear();
    Object::DoDispose();
}

void
InxSharedChannel::Configure(uint32_t nAps, std::vector<uint32_t> receiverOwner)
{
    NS_LOG_FUNCTION(this << nAps << receiverOwner.size());
    for (uint32_t owner : receiverOwner)
    {
        if (owner >= nAps)
        {
            throw std::invalid_argument("InxSharedChannel: receiver owner " +
                                        std::to_string(owner) + " is not one of the " +
                                        std::to_string(nAps) + " APs");
        }
    }
    m_nAps = nAps;
    m_owner = std::move(receiverOwner);
    m_power.assign(static_cast<size_t>(m_nAps) * m_owner.size(), 0.0);
    m_apChannel.assign(m_nAps, 0);
    m_openEnd.assign(m_nAps, -1);
    m_busy.assign(m_nAps, 0);
    m_channels.assign(m_nChannels, ChannelState{});
    m_nTx = 0;
}

uint32_t
InxSharedChannel::GetNAps() const
{
    return m_nAps;
}

uint32_t
InxSharedChannel::GetNReceivers() const
{
    return static_cast<uint32_t>(m_owner.size());
}

uint32_t
InxSharedChannel::GetNChannels() const
{
    return m_nChannels;
}

double
InxSharedChannel::GetNoisePower() const
{
    return m_noisePower;
}

uint32_t
InxSharedChannel::GetReceiverOwner(uint32_t rx) const
{
    return m_owner.at(rx);
}

void
InxSharedChannel::SetLinkPower(uint32_t ap, uint32_t rx, double watts)
{
    NS_ASSERT_MSG(ap < m_nAps && rx < m_owner.size(), "link " << ap << " -> " << rx);
    NS_ASSERT_MSG(watts >= 0.0, "negative power " << watts);
    m_power[static_cast<size_t>(rx) * m_nAps + ap] = watts;
}

double
InxSharedChannel::GetLinkPower(uint32_t ap, uint32_t rx) const
{
    NS_ASSERT_MSG(ap < m_nAps && rx < m_owner.size(), "link " << ap << " -> " << rx);
    return m_power[static_cast<size_t>(rx) * m_nAps + ap];
}

double*
InxSharedChannel::LinkPowerRow(uint32_t rx)
{
    NS_ASSERT_MSG(rx < m_owner.size(), "receiver " << rx);
    return m_power.data() + static_cast<size_t>(rx) * m_nAps;
}

void
InxSharedChannel::BeginInterval(Time start, Time end, const std::vector<uint32_t>& apChannel)
{
    NS_LOG_FUNCTION(this << start << end);
    if (!(end > start))
    {
        throw std::invalid_argument("InxSharedChannel: an interval needs end > start");
    }
    if (apChannel.size() != m_nAps)
    {
        throw std::invalid_argument("InxSharedChannel: one channel per AP expected");
    }
    if (m_channels.size() != m_nChannels)
    {
        m_channels.assign(m_nChannels, ChannelState{});
    }
    for (uint32_t k : apChannel)
    {
        if (k >= m_nChannels)
        {
            throw std::invalid_argument("InxSharedChannel: channel " + std::to_string(k) +
                                        " is not in [0, " + std::to_string(m_nChannels) + ")");
        }
    }
    m_apChannel = apChannel;
    m_start = start.GetTimeStep();
    m_end = end.GetTimeStep();
    for (auto& ch : m_channels)
    {
        // clear() keeps the capacity: the next interval reuses the memory.
        ch.starts.clear();
        ch.ends.clear();
        ch.maxDuration = 0;
    }
    std::fill(m_openEnd.begin(), m_openEnd.end(), -1);
    std::fill(m_busy.begin(), m_busy.end(), 0);
    m_nTx = 0;
}

Time
InxSharedChannel::GetIntervalStart() const
{
    return TimeStep(m_start);
}

Time
InxSharedChannel::GetIntervalEnd() const
{
    return TimeStep(m_end);
}

uint32_t
InxSharedChannel::GetApChannel(uint32_t ap) const
{
    return m_apChannel.at(ap);
}

void
InxSharedChannel::StartTransmission(uint32_t ap, Time start, Time duration)
{
    NS_LOG_FUNCTION(this << ap << start << duration);
    NS_ABORT_MSG_IF(ap >= m_nAps, "no AP " << ap);
    NS_ABORT_MSG_IF(m_openEnd[ap] >= 0, "AP " << ap << " already transmits");
    const int64_t s = start.GetTimeStep();
    const int64_t d = duration.GetTimeStep();
    NS_ABORT_MSG_IF(d <= 0, "airtime must be > 0, got " << duration);
    NS_ABORT_MSG_IF(s < m_start || s + d > m_end,
                    "transmission [" << start << ", " << start + duration
                                     << "] leaves the interval [" << TimeStep(m_start) << ", "
                                     << TimeStep(m_end) << "]");
    auto& ch = m_channels[m_apChannel[ap]];
    NS_ABORT_MSG_IF(!ch.starts.empty() && s < ch.starts.back().start,
                    "transmissions must be started in time order");
    ch.starts.push_back({s, s + d, ap});
    ch.maxDuration = std::max(ch.maxDuration, d);
    m_openEnd[ap] = s + d;
    m_busy[ap] += d;
    ++m_nTx;
}

void
InxSharedChannel::EndTransmission(uint32_t ap)
{
    NS_LOG_FUNCTION(this << ap);
    NS_ABORT_MSG_IF(ap >= m_nAps || m_openEnd[ap] < 0, "AP " << ap << " has no open transmission");
    auto& ch = m_channels[m_apChannel[ap]];
    const int64_t e = m_openEnd[ap];
    NS_ABORT_MSG_IF(!ch.ends.empty() && e < ch.ends.back().end,
                    "transmissions must be ended in time order");
    ch.ends.push_back({e, ap});
    m_openEnd[ap] = -1;
}

void
InxSharedChannel::GetInterferenceChunks(uint32_t rx,
                                        uint32_t channel,
                                        Time t0,
                                        Time t1,
                                        std::vector<Chunk>& out) const
{
    out.clear();
    ForEachInterferenceChunk(rx,
                             channel,
                             t0.GetTimeStep(),
                             t1.GetTimeStep(),
                             [&out](int64_t ticks, double interference) {
                                 out.push_back({TimeStep(ticks), interference});
                             });
}

Time
InxSharedChannel::GetBusyTime(uint32_t ap) const
{
    return TimeStep(m_busy.at(ap));
}

void
InxSharedChannel::SumPerChannel(uint32_t rx,
                                const double* weight,
                                std::vector<double>& perChannel) const
{
    NS_ABORT_MSG_IF(rx >= m_owner.size(), "receiver " << rx);
    perChannel.assign(m_nChannels, 0.0);
    const double* row = m_power.data() + static_cast<size_t>(rx) * m_nAps;
    const uint32_t own = m_owner[rx];
    for (uint32_t j = 0; j < m_nAps; ++j)
    {
        if (j != own)
        {
            perChannel[m_apChannel[j]] += row[j] * (weight ? weight[j] : 1.0);
        }
    }
}

void
InxSharedChannel::GetMeasuredInterference(uint32_t rx, std::vector<double>& perChannel) const
{
    // Busy fractions are final only once the interval is over; recomputing them per call costs
    // N operations, as much as the sum itself.
    const double span = static_cast<double>(m_end - m_start);
    m_scratch.resize(m_nAps);
    for (uint32_t j = 0; j < m_nAps; ++j)
    {
        m_scratch[j] = static_cast<double>(m_busy[j]) / span;
    }
    SumPerChannel(rx, m_scratch.data(), perChannel);
}

void
InxSharedChannel::GetFullLoadInterference(uint32_t rx, std::vector<double>& perChannel) const
{
    SumPerChannel(rx, nullptr, perChannel);
}

uint64_t
InxSharedChannel::GetNTransmissions() const
{
    return m_nTx;
}

} // namespace ns3
