/*
 * fedmarl-ns3: helper that builds the inx-factory MAC (shared channels and one MAC per
 * subnetwork) and runs it one decision interval at a time.
 * SPDX-License-Identifier: GPL-2.0-only
 */

#ifndef FEDMARL_INX_MAC_HELPER_H
#define FEDMARL_INX_MAC_HELPER_H

#include "inx-shared-channel.h"
#include "inx-subnetwork-mac.h"

#include "ns3/object-factory.h"

#include <string>
#include <vector>

namespace ns3
{

/**
 * @ingroup fedmarl
 * @brief Creates an InxSharedChannel and one InxSubnetworkMac per access point with the
 *        attributes set here, and drives decision intervals.
 *
 * A decision interval [start, end) is run with RunInterval: the channel and every MAC begin it
 * at the current simulation time, the simulator runs up to `end`, then once more for the events
 * scheduled at exactly `end` before the first stop (a TB that ends right at the boundary belongs
 * to the interval it was sent in), and the MACs close the interval. Events scheduled for `end`
 * while that second run goes (the next interval's work) stay pending.
 */
class InxMacHelper
{
  public:
    InxMacHelper();

    /**
     * @param name an attribute of ns3::InxSharedChannel
     * @param value its value
     */
    void SetChannelAttribute(const std::string& name, const AttributeValue& value);
    /**
     * @param name an attribute of ns3::InxSubnetworkMac
     * @param value its value
     */
    void SetMacAttribute(const std::string& name, const AttributeValue& value);

    /**
     * @param receiversPerAp for each AP, the receiver indices of its devices (receivers are
     *        numbered 0.. over all APs, each listed once)
     * @return a configured channel with every link power 0
     */
    Ptr<InxSharedChannel> CreateChannel(
        const std::vector<std::vector<uint32_t>>& receiversPerAp) const;

    /**
     * One MAC per AP, installed on `channel`, on channel 0 until SetChannel.
     * @param channel the channel from CreateChannel
     * @param receiversPerAp as given to CreateChannel
     * @return the MACs, index = AP
     */
    std::vector<Ptr<InxSubnetworkMac>> Install(
        Ptr<InxSharedChannel> channel,
        const std::vector<std::vector<uint32_t>>& receiversPerAp) const;

    /**
     * Assign fixed random streams to the MACs (4 each, in AP order).
     * @param macs the MACs
     * @param stream first stream index
     * @return the number of streams used
     */
    static int64_t AssignStreams(const std::vector<Ptr<InxSubnetworkMac>>& macs, int64_t stream);

    /**
     * Run one decision interval from now to `end` on the MACs' current channels.
     * @param channel the shared channel
     * @param macs every MAC on it
     * @param end the end of the interval (> now)
     */
    static void RunInterval(Ptr<InxSharedChannel> channel,
                            const std::vector<Ptr<InxSubnetworkMac>>& macs,
                            Time end);

  private:
    ObjectFactory m_channelFactory; //!< makes the channel
    ObjectFactory m_macFactory;     //!< makes the MACs
};

} // namespace ns3

#endif // FEDMARL_INX_MAC_HELPER_H
