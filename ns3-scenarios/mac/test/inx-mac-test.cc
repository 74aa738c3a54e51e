/*
 * fedmarl-ns3: tests of the inx-factory MAC (InxSharedChannel, InxSubnetworkMac, InxMacHelper).
 * SPDX-License-Identifier: GPL-2.0-only
 *
 * Run: build/bin/fedmarl-ns3-mac-test (all cases; exit status 0 iff all pass), or with ns-3's
 * test-runner options, e.g. --suite=fedmarl-inx-mac --verbose.
 *
 * Hand values (l = 256, eps = 1e-5, 32-byte packets, S = 256 bits, B = 10 MHz, noise 1e-12 W):
 * FblSe(1000) = 9.5826679, so a TB carries P = floor(256 * 9.58 / 256) = 9 packets in
 * n = ceil(9 * 256 / 9.5826679) = 241 channel uses = 24.1 us. FblSe(100) = 6.2736718: P = 6,
 * n = ceil(1536 / 6.2736718) = 245, 24.5 us.
 */

#include "inx-mac-helper.h"
#include "inx-shared-channel.h"
#include "inx-subnetwork-mac.h"

#include "inf-channel.h"

#include "ns3/double.h"
#include "ns3/enum.h"
#include "ns3/nstime.h"
#include "ns3/rng-seed-manager.h"
#include "ns3/simulator.h"
#include "ns3/string.h"
#include "ns3/test.h"
#include "ns3/uinteger.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <numbers>
#include <set>
#include <vector>

using namespace ns3;

namespace
{

constexpr double kNoise = 1e-12; // W
constexpr double kBandwidth = 10e6; // Hz

/// A helper with the test defaults: K channels, noise kNoise, l = 256, eps = 1e-5.
InxMacHelper
MakeHelper(uint32_t k, const std::string& traffic = "full-buffer")
{
    InxMacHelper h;
    h.SetChannelAttribute("NumChannels", UintegerValue(k));
    h.SetChannelAttribute("NoisePower", DoubleValue(kNoise));
    h.SetMacAttribute("Bandwidth", DoubleValue(kBandwidth));
    h.SetMacAttribute("Blocklength", UintegerValue(256));
    h.SetMacAttribute("ErrorProbability", DoubleValue(1e-5));
    h.SetMacAttribute("PacketSize", UintegerValue(32));
    h.SetMacAttribute("Traffic", StringValue(traffic));
    return h;
}

/// One device per AP: receivers {{0}, {1}, ...}.
std::vector<std::vector<uint32_t>>
OneDeviceEach(uint32_t n)
{
    std::vector<std::vector<uint32_t>> r(n);
    for (uint32_t i = 0; i < n; ++i)
    {
        r[i] = {i};
    }
    return r;
}

/// Collects the TbEnd records of MACs, by AP.
struct TbLog
{
    std::map<uint32_t, std::vector<InxSubnetworkMac::TbRecord>> byAp; //!< records

    /// @param ap AP index @param tb the TB
    void Add(uint32_t ap, const InxSubnetworkMac::TbRecord& tb)
    {
        byAp[ap].push_back(tb);
    }

    /// Connect to every MAC. @param macs the MACs
    void Connect(const std::vector<Ptr<InxSubnetworkMac>>& macs)
    {
        for (uint32_t ap = 0; ap < macs.size(); ++ap)
        {
            macs[ap]->TraceConnectWithoutContext(
                "TbEnd",
                MakeBoundCallback(&TbLog::Record, this, ap));
        }
    }

    /// Trace sink. @param log the log @param ap the AP @param tb the TB
    static void Record(TbLog* log, uint32_t ap, const InxSubnetworkMac::TbRecord& tb)
    {
        log->Add(ap, tb);
    }
};

/// Fixed seed and run for reproducible tests.
void
Seed()
{
    RngSeedManager::SetSeed(7);
    RngSeedManager::SetRun(1);
}

// ----------------------------------------------------------------------------------------- (1)

/// Chunks from hand-placed transmissions, and the SINRs and eps of two overlapping TBs.
class OverlapTestCase : public TestCase
{
  public:
    OverlapTestCase()
        : TestCase("(1) overlapping co-channel TBs: chunks, chunk SINRs and eps by hand")
    {
    }

  private:
    void DoRun() override
    {
        Seed();
        ChunksByHand();
        TwoMacs();
        Simulator::Destroy();
    }

    /// The channel alone: three APs on two channels, transmissions placed by hand.
    void ChunksByHand()
    {
        auto h = MakeHelper(2);
        auto ch = h.CreateChannel(OneDeviceEach(4));
        // Receiver 0 (AP 0's device) hears AP 1 at 2e-13 W, AP 2 at 5e-13 W (same channel),
        // AP 3 at 1e-11 W but on the other channel.
        ch->SetLinkPower(0, 0, 1e-9);
        ch->SetLinkPower(1, 0, 2e-13);
        ch->SetLinkPower(2, 0, 5e-13);
        ch->SetLinkPower(3, 0, 1e-11);
        ch->BeginInterval(Time(0), MicroSeconds(100), {0, 0, 0, 1});
        ch->StartTransmission(2, MicroSeconds(0), MicroSeconds(12)); // [0, 12]
        ch->StartTransmission(3, MicroSeconds(0), MicroSeconds(50)); // other channel
        ch->StartTransmission(0, MicroSeconds(5), MicroSeconds(25)); // [5, 30]: the signal
        ch->StartTransmission(1, MicroSeconds(8), MicroSeconds(10)); // [8, 18]
        ch->EndTransmission(2);                                      // at 12
        ch->EndTransmission(1);                                      // at 18
        ch->StartTransmission(2, MicroSeconds(20), MicroSeconds(30)); // [20, 50]
        std::vector<InxSharedChannel::Chunk> c;
        ch->GetInterferenceChunks(0, 0, MicroSeconds(5), MicroSeconds(30), c);
        // Expected over [5, 30]: [5, 8] AP2; [8, 12] AP1 + AP2; [12, 18] AP1; [18, 20] none;
        // [20, 30] AP2. AP 0 is the receiver's own AP and AP 3 is on channel 1.
        const std::vector<std::pair<int, double>> expected = {{3, 5e-13},
                                                              {4, 7e-13},
                                                              {6, 2e-13},
                                                              {2, 0.0},
                                                              {10, 5e-13}};
        NS_TEST_ASSERT_MSG_EQ(c.size(), expected.size(), "number of chunks");
        for (size_t i = 0; i < c.size(); ++i)
        {
            NS_TEST_EXPECT_MSG_EQ(c[i].duration, MicroSeconds(expected[i].first), "chunk " << i);
            NS_TEST_EXPECT_MSG_EQ_TOL(c[i].interference,
                                      expected[i].second,
                                      1e-25,
                                      "chunk " << i << " power");
        }
        // A span inside one transmission: one chunk.
        ch->GetInterferenceChunks(0, 0, MicroSeconds(13), MicroSeconds(17), c);
        NS_TEST_ASSERT_MSG_EQ(c.size(), 1, "one chunk");
        NS_TEST_EXPECT_MSG_EQ_TOL(c[0].interference, 2e-13, 1e-25, "AP1 only");
        // The other channel: AP 3 only.
        ch->GetInterferenceChunks(0, 1, MicroSeconds(0), MicroSeconds(50), c);
        NS_TEST_ASSERT_MSG_EQ(c.size(), 1, "channel 1: one chunk");
        NS_TEST_EXPECT_MSG_EQ_TOL(c[0].interference, 1e-11, 1e-25, "AP3");
        ch->Dispose();
    }

    /// Two MACs on one channel; AP 1 starts 10 us after AP 0 and interferes with its 1st TB.
    void TwoMacs()
    {
        auto h = MakeHelper(1);
        const auto rx = OneDeviceEach(2);
        auto ch = h.CreateChannel(rx);
        auto macs = h.Install(ch, rx);
        InxMacHelper::AssignStreams(macs, 100);
        TbLog log;
        log.Connect(macs);
        ch->SetLinkPower(0, 0, 1e-9);   // signal, SNR 1000
        ch->SetLinkPower(1, 0, 2.5e-13); // AP 1 at receiver 0
        ch->SetLinkPower(1, 1, 1e-9);
        ch->SetLinkPower(0, 1, 1e-15);
        macs[0]->SetMeasuredSinr(0, {1000.0});
        macs[1]->SetMeasuredSinr(0, {1000.0});
        const Time end = MilliSeconds(1);
        ch->BeginInterval(Time(0), end, {0, 0});
        macs[0]->BeginInterval(end);
        Simulator::Schedule(MicroSeconds(10), &InxSubnetworkMac::BeginInterval, macs[1], end);
        Simulator::Stop(end);
        Simulator::Run();
        Simulator::Stop(Time(0));
        Simulator::Run();

        NS_TEST_ASSERT_MSG_EQ(log.byAp[0].empty(), false, "AP 0 sent");
        const auto& tb = log.byAp[0][0];
        NS_TEST_EXPECT_MSG_EQ(tb.packets, 9, "P at gamma_est = 1000");
        NS_TEST_EXPECT_MSG_EQ(tb.channelUses, 241, "n at gamma_est = 1000");
        NS_TEST_EXPECT_MSG_EQ(tb.end - tb.start, NanoSeconds(24100), "airtime n / B");
        // Chunks: [0, 10] us gamma = 1e-9 / 1e-12 = 1000; [10, 24.1] us gamma = 1e-9 /
        // 1.25e-12 = 800. n_c = 241 * len_c / 24.1 us.
        const double n = 241.0;
        const double f1 = 10.0 / 24.1;
        const double f2 = 14.1 / 24.1;
        const double c1 = std::log2(1001.0);
        const double c2 = std::log2(801.0);
        const double v1 = 1.0 - 1.0 / (1001.0 * 1001.0);
        const double v2 = 1.0 - 1.0 / (801.0 * 801.0);
        const double sumC = n * (f1 * c1 + f2 * c2); // 2356.76046
        const double sumV = n * (f1 * v1 + f2 * v2); // 240.99968
        const double k = 9.0 * 256.0;
        const double eps = 0.5 * std::erfc((sumC - k) / (std::numbers::log2e * std::sqrt(sumV)) /
                                           std::numbers::sqrt2);
        NS_TEST_EXPECT_MSG_EQ_TOL(sumC, 2356.7604648532274, 1e-9, "sum n_c C_c");
        NS_TEST_EXPECT_MSG_EQ_TOL(eps, 0.009243130140762675, 1e-12, "eps by hand");
        NS_TEST_EXPECT_MSG_EQ_TOL(tb.errorProbability, eps, 1e-12, "MAC eps");
        NS_TEST_EXPECT_MSG_EQ_TOL(tb.effectiveSinr, 877.6160634579988, 1e-6, "2^(mean C) - 1");
        // The next TB to the device is sized at that effective SINR (ACK/CQI feedback).
        NS_TEST_EXPECT_MSG_EQ_TOL(log.byAp[0][1].sinrEstimate,
                                  tb.effectiveSinr,
                                  1e-9,
                                  "feedback sizes the next TB");
        for (auto& m : macs)
        {
            m->EndInterval();
            m->Dispose();
        }
        ch->Dispose();
        Simulator::Destroy();
    }
};

// ----------------------------------------------------------------------------------------- (2)

/// A TB alone on the channel: its size follows link adaptation and its packets' delay is the
/// airtime.
class IsolatedTbTestCase : public TestCase
{
  public:
    IsolatedTbTestCase()
        : TestCase("(2) isolated TB: size by link adaptation, delay = airtime (full-buffer)")
    {
    }

  private:
    void DoRun() override
    {
        Seed();
        auto h = MakeHelper(1);
        const auto rx = OneDeviceEach(1);
        auto ch = h.CreateChannel(rx);
        auto macs = h.Install(ch, rx);
        InxMacHelper::AssignStreams(macs, 200);
        TbLog log;
        log.Connect(macs);
        ch->SetLinkPower(0, 0, 100 * kNoise); // SNR 100
        macs[0]->SetMeasuredSinr(0, {100.0});
        InxMacHelper::RunInterval(ch, macs, MilliSeconds(1));

        const double r = fedmarl::FblSe(100.0, 256, 1e-5);
        NS_TEST_EXPECT_MSG_EQ_TOL(r, 6.273671782379779, 1e-12, "FblSe(100)");
        const auto p = static_cast<uint32_t>(std::floor(256 * r / 256.0));
        const auto n = static_cast<uint32_t>(std::ceil(p * 256.0 / r));
        NS_TEST_EXPECT_MSG_EQ(p, 6, "P by hand");
        NS_TEST_EXPECT_MSG_EQ(n, 245, "n by hand");
        const auto& tbs = log.byAp[0];
        NS_TEST_ASSERT_MSG_GT(tbs.size(), 10, "TBs sent");
        for (size_t i = 0; i + 1 < tbs.size(); ++i) // the last one may be shrunk to fit
        {
            NS_TEST_EXPECT_MSG_EQ(tbs[i].packets, p, "TB " << i << " packets");
            NS_TEST_EXPECT_MSG_EQ(tbs[i].channelUses, n, "TB " << i << " channel uses");
            NS_TEST_EXPECT_MSG_EQ(tbs[i].end - tbs[i].start, NanoSeconds(24500), "airtime");
            NS_TEST_EXPECT_MSG_EQ_TOL(tbs[i].effectiveSinr, 100.0, 1e-9, "no interference");
            NS_TEST_EXPECT_MSG_EQ(tbs[i].success, true, "eps ~ 1e-5 at the target SINR");
        }
        // Back to back: each TB starts when the previous ends.
        for (size_t i = 1; i < tbs.size(); ++i)
        {
            NS_TEST_EXPECT_MSG_EQ(tbs[i].start, tbs[i - 1].end, "back to back");
        }
        const auto& st = macs[0]->GetDeviceStats(0);
        NS_TEST_EXPECT_MSG_EQ(st.delivered + st.lost, st.tbPackets, "every packet accounted");
        NS_TEST_EXPECT_MSG_EQ(st.created, st.tbPackets, "full-buffer: created when taken");
        NS_TEST_ASSERT_MSG_GT(st.delivered, 0, "delivered");
        // Full buffer: packets are created when the TB takes them, so delay = airtime.
        NS_TEST_EXPECT_MSG_EQ_TOL(st.delayMax, 24.5e-6, 1e-15, "max delay = airtime");
        // Every delivered packet's delay is its TB's airtime (the last TB may be shorter).
        double airtimeSum = 0.0;
        for (const auto& tb : tbs)
        {
            airtimeSum += tb.success ? tb.packets * (tb.end - tb.start).GetSeconds() : 0.0;
        }
        NS_TEST_EXPECT_MSG_EQ_TOL(st.delaySum, airtimeSum, 1e-12 * airtimeSum, "delay sum");
        NS_TEST_EXPECT_MSG_EQ_TOL(st.deliveredBits, 256.0 * st.delivered, 1e-9, "payload bits");
        const auto& hist = macs[0]->GetDelayHistogram();
        uint32_t inHist = 0;
        for (auto c : hist)
        {
            inHist += c;
        }
        NS_TEST_EXPECT_MSG_EQ(inHist, st.delivered, "histogram counts every delivered packet");
        NS_TEST_EXPECT_MSG_EQ((hist[InxSubnetworkMac::DelayBin(24.5e-6)] > 0), true, "right bin");
        NS_TEST_EXPECT_MSG_EQ(InxSubnetworkMac::DelayBin(1e-7), 0, "below range: bin 0");
        NS_TEST_EXPECT_MSG_EQ(InxSubnetworkMac::DelayBin(5.0), 63, "above range: last bin");
        NS_TEST_EXPECT_MSG_EQ(InxSubnetworkMac::DelayBin(1e-3), 32, "1 ms: the middle edge");
        for (auto& m : macs)
        {
            m->Dispose();
        }
        ch->Dispose();
        Simulator::Destroy();
    }
};

// ----------------------------------------------------------------------------------------- (3)

/// Poisson arrivals faster than the link drains them: drops at the DropTailQueue.
class QueueOverflowTestCase : public TestCase
{
  public:
    QueueOverflowTestCase()
        : TestCase("(3) poisson overload: DropTailQueue drops counted, queue bounded, "
                   "packets conserved")
    {
    }

  private:
    void DoRun() override
    {
        Seed();
        auto h = MakeHelper(1, "poisson");
        h.SetMacAttribute("QueueSize", UintegerValue(20));
        // One packet per us on average per device; at SNR 100 a 24.5 us TB carries 6.
        h.SetMacAttribute("PacketInterval", TimeValue(MicroSeconds(1)));
        std::vector<std::vector<uint32_t>> rx = {{0, 1}}; // one AP, two devices
        auto ch = h.CreateChannel(rx);
        auto macs = h.Install(ch, rx);
        InxMacHelper::AssignStreams(macs, 300);
        ch->SetLinkPower(0, 0, 100 * kNoise);
        ch->SetLinkPower(0, 1, 100 * kNoise);
        macs[0]->SetMeasuredSinr(0, {100.0});
        macs[0]->SetMeasuredSinr(1, {100.0});
        uint32_t queued[2] = {0, 0};
        uint32_t dropped = 0;
        for (int t = 0; t < 4; ++t)
        {
            InxMacHelper::RunInterval(ch, macs, MilliSeconds(t + 1));
            for (uint32_t d = 0; d < 2; ++d)
            {
                const auto& st = macs[0]->GetDeviceStats(d);
                NS_TEST_EXPECT_MSG_LT_OR_EQ(st.queue, 20, "queue bounded by QueueSize");
                NS_TEST_EXPECT_MSG_EQ(st.queue, macs[0]->GetQueue(d)->GetNPackets(), "queue");
                // Conservation: what was queued plus what arrived = served + dropped + queued.
                NS_TEST_EXPECT_MSG_EQ(queued[d] + st.created,
                                      st.tbPackets + st.dropped + st.queue,
                                      "packets conserved, device " << d << " interval " << t);
                NS_TEST_EXPECT_MSG_EQ(st.delivered + st.lost, st.tbPackets, "TB packets");
                queued[d] = st.queue;
                dropped += st.dropped;
                // ~1000 arrivals per ms against ~245 per ms of service per device.
                NS_TEST_EXPECT_MSG_GT(st.created, 800, "Poisson arrivals at 1 per us");
            }
        }
        NS_TEST_EXPECT_MSG_GT(dropped, 1000, "an overloaded queue drops");
        // The DropTailQueue's own counter agrees with the MAC's.
        uint32_t queueDrops = 0;
        for (uint32_t d = 0; d < 2; ++d)
        {
            queueDrops += macs[0]->GetQueue(d)->GetTotalDroppedPackets();
        }
        NS_TEST_EXPECT_MSG_EQ(queueDrops, dropped, "DropTailQueue drop counter");
        for (auto& m : macs)
        {
            m->Dispose();
        }
        ch->Dispose();
        Simulator::Destroy();
    }
};

// ----------------------------------------------------------------------------------------- (4)

/// The switching rule of the twin: delay U{1..tau_max}, pending requests ignored.
class SwitchingTestCase : public TestCase
{
  public:
    SwitchingTestCase()
        : TestCase("(4) a switch lands U{1..tau_max} steps after the request; requests while "
                   "pending are ignored")
    {
    }

  private:
    void DoRun() override
    {
        Seed();
        auto h = MakeHelper(4);
        h.SetMacAttribute("MaxSwitchDelay", UintegerValue(5));
        const auto rx = OneDeviceEach(1);
        auto ch = h.CreateChannel(rx);
        auto mac = h.Install(ch, rx)[0];
        mac->AssignStreams(400);
        mac->SetChannel(0);
        // A request for the channel in use is no request.
        NS_TEST_EXPECT_MSG_EQ(mac->ApplyChannelRequest(0), false, "same channel");
        NS_TEST_EXPECT_MSG_EQ(mac->GetPendingChannel(), -1, "nothing pending");

        std::set<uint32_t> delays;
        uint32_t current = 0;
        for (int trial = 0; trial < 200; ++trial)
        {
            const uint32_t target = (current + 1 + trial % 3) % 4;
            NS_TEST_ASSERT_MSG_EQ(mac->ApplyChannelRequest(target), false, "request step");
            NS_TEST_ASSERT_MSG_EQ(mac->GetPendingChannel(), static_cast<int32_t>(target), "");
            uint32_t steps = 0;
            bool switched = false;
            while (!switched)
            {
                ++steps;
                // Meanwhile the agent keeps asking for other channels: ignored.
                const uint32_t other = (target + 1) % 4;
                switched = mac->ApplyChannelRequest(other);
                NS_TEST_ASSERT_MSG_LT_OR_EQ(steps, 5u, "switch within tau_max steps");
                if (!switched)
                {
                    NS_TEST_ASSERT_MSG_EQ(mac->GetChannel(), current, "old channel meanwhile");
                    NS_TEST_ASSERT_MSG_EQ(mac->GetPendingChannel(),
                                          static_cast<int32_t>(target),
                                          "the pending request stands");
                }
            }
            NS_TEST_ASSERT_MSG_EQ(mac->GetChannel(), target, "switched to the first request");
            // At the step the switch lands, the request for `other` is a request for a new
            // channel and starts its own delay: let it land before the next trial.
            if (mac->GetPendingChannel() >= 0)
            {
                while (!mac->ApplyChannelRequest(static_cast<uint32_t>(mac->GetPendingChannel())))
                {
                }
            }
            current = mac->GetChannel();
            delays.insert(steps);
        }
        NS_TEST_EXPECT_MSG_EQ(delays.size(), 5, "every delay 1..5 occurs");
        NS_TEST_EXPECT_MSG_EQ(*delays.begin(), 1, "shortest delay 1 step");
        NS_TEST_EXPECT_MSG_EQ(*delays.rbegin(), 5, "longest delay tau_max steps");
        mac->Dispose();
        ch->Dispose();
        Simulator::Destroy();
    }
};

// ----------------------------------------------------------------------------------------- (5)

/// The per-channel measurement is the busy-fraction-weighted power sum.
class MeasurementTestCase : public TestCase
{
  public:
    MeasurementTestCase()
        : TestCase("(5) measured interference per channel = sum_j P_jd busy_j over T")
    {
    }

  private:
    void DoRun() override
    {
        Seed();
        // Periodic traffic keeps the APs partly idle, so busy fractions differ from 1.
        auto h = MakeHelper(2, "periodic");
        h.SetMacAttribute("PacketInterval", TimeValue(MicroSeconds(10)));
        const uint32_t n = 5;
        const auto rx = OneDeviceEach(n);
        auto ch = h.CreateChannel(rx);
        auto macs = h.Install(ch, rx);
        InxMacHelper::AssignStreams(macs, 500);
        for (uint32_t d = 0; d < n; ++d)
        {
            for (uint32_t j = 0; j < n; ++j)
            {
                ch->SetLinkPower(j, d, j == d ? 1e-9 : 1e-13 * (1 + j + 3 * d));
            }
            macs[d]->SetMeasuredSinr(0, {500.0, 500.0});
        }
        const std::vector<uint32_t> channel = {0, 1, 0, 1, 1};
        for (uint32_t j = 0; j < n; ++j)
        {
            macs[j]->SetChannel(channel[j]);
        }
        const Time t = MilliSeconds(2);
        InxMacHelper::RunInterval(ch, macs, t);
        for (uint32_t d = 0; d < n; ++d)
        {
            std::vector<double> expected(2, 0.0);
            for (uint32_t j = 0; j < n; ++j)
            {
                const double busy = macs[j]->GetAirtime().GetSeconds() / t.GetSeconds();
                NS_TEST_EXPECT_MSG_EQ(macs[j]->GetAirtime(), ch->GetBusyTime(j), "busy time");
                NS_TEST_EXPECT_MSG_GT(busy, 0.05, "AP " << j << " sent");
                NS_TEST_EXPECT_MSG_LT(busy, 0.9, "AP " << j << " idled");
                if (j != d)
                {
                    expected[channel[j]] += ch->GetLinkPower(j, d) * busy;
                }
            }
            const auto& measured = macs[d]->GetMeasuredInterference(0);
            for (uint32_t k = 0; k < 2; ++k)
            {
                NS_TEST_EXPECT_MSG_EQ_TOL(measured[k],
                                          expected[k],
                                          1e-12 * expected[k],
                                          "device " << d << " channel " << k);
                NS_TEST_EXPECT_MSG_EQ_TOL(macs[d]->GetMeasuredSinr(0)[k],
                                          1e-9 / (expected[k] + kNoise),
                                          1e-9 * macs[d]->GetMeasuredSinr(0)[k],
                                          "measured SINR");
            }
            // Periodic: one packet per 10 us => 200 per 2 ms, give or take the phase.
            const auto& st = macs[d]->GetDeviceStats(0);
            NS_TEST_EXPECT_MSG_EQ((st.created >= 199 && st.created <= 201), true, "periodic count");
        }
        for (auto& m : macs)
        {
            m->Dispose();
        }
        ch->Dispose();
        Simulator::Destroy();
    }
};

// ----------------------------------------------------------------------------------------- (6)

/// TBs never cross a decision-interval boundary.
class BoundaryTestCase : public TestCase
{
  public:
    BoundaryTestCase()
        : TestCase("(6) no TB crosses a decision-interval boundary; the last one is shrunk")
    {
    }

  private:
    void DoRun() override
    {
        Seed();
        auto h = MakeHelper(1);
        const uint32_t n = 3;
        const auto rx = OneDeviceEach(n);
        auto ch = h.CreateChannel(rx);
        auto macs = h.Install(ch, rx);
        InxMacHelper::AssignStreams(macs, 600);
        TbLog log;
        log.Connect(macs);
        for (uint32_t d = 0; d < n; ++d)
        {
            for (uint32_t j = 0; j < n; ++j)
            {
                ch->SetLinkPower(j, d, j == d ? (200 + 300 * d) * kNoise : 1e-14);
            }
            macs[d]->SetMeasuredSinr(0, {100.0 + 300 * d});
        }
        // An interval that is no multiple of any airtime: 1.0173 ms.
        const Time t = NanoSeconds(1017300);
        const int intervals = 6;
        for (int i = 0; i < intervals; ++i)
        {
            InxMacHelper::RunInterval(ch, macs, t * (i + 1));
            for (uint32_t j = 0; j < n; ++j)
            {
                NS_TEST_EXPECT_MSG_LT_OR_EQ(macs[j]->GetAirtime(), t, "airtime <= T");
            }
        }
        uint32_t shrunk = 0;
        for (const auto& [ap, tbs] : log.byAp)
        {
            NS_TEST_ASSERT_MSG_GT(tbs.size(), 100, "AP " << ap << " sent");
            uint32_t fullPackets = 0;
            for (const auto& tb : tbs)
            {
                fullPackets = std::max(fullPackets, tb.packets);
            }
            for (const auto& tb : tbs)
            {
                const int64_t k = tb.start.GetTimeStep() / t.GetTimeStep();
                NS_TEST_EXPECT_MSG_LT_OR_EQ(tb.end, t * (k + 1), "TB ends in its interval");
                NS_TEST_EXPECT_MSG_GT_OR_EQ(tb.start, t * k, "");
            }
            for (size_t i = 1; i < tbs.size(); ++i)
            {
                // A TB that does not start back to back started at a boundary after an idle
                // gap shorter than one full TB.
                if (tbs[i].start != tbs[i - 1].end)
                {
                    NS_TEST_EXPECT_MSG_EQ(tbs[i].start.GetTimeStep() % t.GetTimeStep(), 0,
                                          "only boundaries interrupt a full buffer");
                    NS_TEST_EXPECT_MSG_LT(tbs[i].start - tbs[i - 1].end, MicroSeconds(26),
                                          "idle only when one packet does not fit");
                }
                const int64_t toBoundary =
                    t.GetTimeStep() - tbs[i].end.GetTimeStep() % t.GetTimeStep();
                if (tbs[i].packets < fullPackets && toBoundary < 30000)
                {
                    ++shrunk;
                }
            }
        }
        NS_TEST_EXPECT_MSG_GT(shrunk, 0, "some TBs were shrunk to fit before a boundary");
        for (auto& m : macs)
        {
            m->Dispose();
        }
        ch->Dispose();
        Simulator::Destroy();
    }
};

/// All the MAC tests.
class FedmarlInxMacTestSuite : public TestSuite
{
  public:
    FedmarlInxMacTestSuite()
        : TestSuite("fedmarl-inx-mac", Type::UNIT)
    {
        AddTestCase(new OverlapTestCase, Duration::QUICK);
        AddTestCase(new IsolatedTbTestCase, Duration::QUICK);
        AddTestCase(new QueueOverflowTestCase, Duration::QUICK);
        AddTestCase(new SwitchingTestCase, Duration::QUICK);
        AddTestCase(new MeasurementTestCase, Duration::QUICK);
        AddTestCase(new BoundaryTestCase, Duration::QUICK);
    }
};

/// Static instance: registers the suite with the test runner.
FedmarlInxMacTestSuite g_fedmarlInxMacTestSuite;

} // namespace

int
main(int argc, char** argv)
{
    return TestRunner::Run(argc, argv);
}
