/*
 * fedmarl-ns3: helper that builds and runs the inx-factory MAC.
 * SPDX-License-Identifier: GPL-2.0-only
 */

#include "inx-mac-helper.h"

#include "ns3/log.h"
#include "ns3/simulator.h"

#include <stdexcept>

namespace ns3
{

NS_LOG_COMPONENT_DEFINE("InxMacHelper");

InxMacHelper::InxMacHelper()
{
    m_channelFactory.SetTypeId("ns3::InxSharedChannel");
    m_macFactory.SetTypeId("ns3::InxSubnetworkMac");
}

void
InxMacHelper::SetChannelAttribute(const std::string& name, const AttributeValue& value)
{
    m_channelFactory.Set(name, value);
}

void
InxMacHelper::SetMacAttribute(const std::string& name, const AttributeValue& value)
{
    m_macFactory.Set(name, value);
}

Ptr<InxSharedChannel>
InxMacHelper::CreateChannel(const std::vector<std::vector<uint32_t>>& receiversPerAp) const
{
    size_t nRx = 0;
    for (const auto& r : receiversPerAp)
    {
        nRx += r.size();
    }
    std::vector<uint32_t> owner(nRx, UINT32_MAX);
    for (uint32_t ap = 0; ap < receiversPerAp.size(); ++ap)
    {
        for (uint32_t rx : receiversPerAp[ap])
        {
            if (rx >= nRx || owner[rx] != UINT32_MAX)
            {
                throw std::invalid_argument("InxMacHelper: receivers must be numbered 0.." +
                                            std::to_string(nRx - 1) + ", each once");
            }
            owner[rx] = ap;
        }
    }
    auto channel = m_channelFactory.Create<InxSharedChannel>();
    channel->Configure(static_cast<uint32_t>(receiversPerAp.size()), std::move(owner));
    return channel;
}

std::vector<Ptr<InxSubnetworkMac>>
InxMacHelper::Install(Ptr<InxSharedChannel> channel,
                      const std::vector<std::vector<uint32_t>>& receiversPerAp) const
{
    std::vector<Ptr<InxSubnetworkMac>> macs;
    macs.reserve(receiversPerAp.size());
    for (uint32_t ap = 0; ap < receiversPerAp.size(); ++ap)
    {
        auto mac = m_macFactory.Create<InxSubnetworkMac>();
        mac->Install(channel, ap, receiversPerAp[ap]);
        macs.push_back(mac);
    }
    return macs;
}

int64_t
InxMacHelper::AssignStreams(const std::vector<Ptr<InxSubnetworkMac>>& macs, int64_t stream)
{
    int64_t used = 0;
    for (const auto& mac : macs)
    {
        used += mac->AssignStreams(stream + used);
    }
    return used;
}

void
InxMacHelper::RunInterval(Ptr<InxSharedChannel> channel,
                          const std::vector<Ptr<InxSubnetworkMac>>& macs,
                          Time end)
{
    const Time start = Simulator::Now();
    NS_LOG_FUNCTION(start << end);
    std::vector<uint32_t> channels(macs.size());
    for (size_t i = 0; i < macs.size(); ++i)
    {
        channels[i] = macs[i]->GetChannel();
    }
    channel->BeginInterval(start, end, channels);
    for (const auto& mac : macs)
    {
        mac->BeginInterval(end);
    }
    Simulator::Stop(end - start);
    Simulator::Run();
    // The stop event was scheduled before any TB ending exactly at `end`, so it ran first; a
    // zero-delay stop scheduled now comes after them (same time, later insertion) and lets them
    // finish in this interval.
    Simulator::Stop(Time(0));
    Simulator::Run();
    for (const auto& mac : macs)
    {
        mac->EndInterval();
    }
}

} // namespace ns3
