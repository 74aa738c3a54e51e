/*
 * fedmarl-ns3: in-process episodes of the edge-offload scenario with invariant checks.
 * SPDX-License-Identifier: GPL-2.0-only
 *
 * Run: build/bin/fedmarl-edge-offload-test (exit status 0 iff all pass), or with ns-3's
 * test-runner options, e.g. --suite=fedmarl-edge-offload --verbose.
 */

#include "cpu-energy-model.h"
#include "edge-radio-energy-model.h"
#include "edge-offload-contract.h"
#include "edge-offload-params.h"
#include "edge-offload-scenario.h"
#include "factory-alley-layout.h"

#include "ns3/basic-energy-source.h"
#include "ns3/double.h"
#include "ns3/simulator.h"
#include "ns3/test.h"
#include "ns3/wifi-net-device.h"
#include "ns3/wifi-phy.h"
#include "ns3/wifi-psdu.h"

#include <algorithm>
#include <cmath>
#include <iostream>
#include <map>
#include <string>
#include <vector>

using namespace ns3;
using namespace ns3::fedmarl;

namespace
{

EdgeOffloadParams
Params(const std::vector<std::string>& flags)
{
    return MakeEdgeOffloadServer().ParseParams(flags);
}

/// A policy that exercises every component: targets, channel switches, CPU levels.
void
Policy(uint32_t t, const EdgeOffloadParams& p, std::span<int32_t> a)
{
    for (uint32_t u = 0; u < p.n_users; ++u)
    {
        a[3 * u] = static_cast<int32_t>((t / 5 + u) % (p.n_servers + 1));
        a[3 * u + 1] = static_cast<int32_t>((t / 9 + 2 * u) % p.n_channels);
        a[3 * u + 2] = static_cast<int32_t>((t / 3 + u) % p.NumCpuLevels());
    }
}

/// Parameters, relations and the contract.
class ParamsTestCase : public TestCase
{
  public:
    ParamsTestCase()
        : TestCase("parameters and contract")
    {
    }

  private:
    void DoRun() override
    {
        const EdgeOffloadParams d = Params({});
        NS_TEST_EXPECT_MSG_EQ(d.ObsWidth(), 10 + 4 + 4, "W = 10 + K + 2E");
        NS_TEST_EXPECT_MSG_EQ(d.NumCpuLevels(), 4, "F");
        auto refused = [](const std::vector<std::string>& flags, const std::string& what) {
            try
            {
                Params(flags);
            }
            catch (const ParamError& e)
            {
                return std::string(e.what()).find(what) != std::string::npos;
            }
            return false;
        };
        NS_TEST_EXPECT_MSG_EQ(refused({"--urllc_rate=120"}, "urllc_rate x interval_s = 1.2 > 1"),
                              true, "relation");
        NS_TEST_EXPECT_MSG_EQ(refused({"--cpu_levels_ghz=1,0.5"}, "--cpu_levels_ghz"), true, "");
        NS_TEST_EXPECT_MSG_EQ(refused({"--cpu_levels_ghz=None"}, "--cpu_levels_ghz"), true, "");
        NS_TEST_EXPECT_MSG_EQ(refused({"--cpu_levels_ghz=11"}, "(0, 10]"), true, "");
        NS_TEST_EXPECT_MSG_EQ(refused({"--channel_bandwidth_hz=40e6"}, "channel_bandwidth_hz"),
                              true, "");
        NS_TEST_EXPECT_MSG_EQ(refused({"--clutter=sparse"}, "clutter"), true, "");
        NS_TEST_EXPECT_MSG_EQ(Params({"--cpu_levels_ghz=0.5, 2"}).NumCpuLevels(), 2, "");
        NS_TEST_EXPECT_MSG_EQ(refused({"--mobility=manhattan"}, "mobility"), true, "");
        NS_TEST_EXPECT_MSG_EQ(refused({"--mobility=alleys", "--hall_length=100"}, "hall_width"),
                              true, "alleys need the 180 m x 80 m tile");
        NS_TEST_EXPECT_MSG_EQ(refused({"--mobility=alleys", "--hall_width=60"}, "hall_length"),
                              true, "");
        const uint32_t cap = AlleyCapacity();
        NS_TEST_EXPECT_MSG_EQ(cap, LaneCapacity(BuildFactoryAlleyLayout(1, 1), 1.0), "");
        NS_TEST_EXPECT_MSG_EQ(refused({"--mobility=alleys", "--n_users=" + std::to_string(cap + 1)},
                                      "n_users=" + std::to_string(cap + 1)),
                              true, "above the lane capacity");
        NS_TEST_EXPECT_MSG_EQ(
            Params({"--mobility=alleys", "--n_users=" + std::to_string(cap)}).n_users,
            static_cast<int64_t>(cap), "");
    }
};

/// The SNR thresholds in the contract are the ones a live PHY gives IdealWifiManager.
class McsTableTestCase : public TestCase
{
  public:
    McsTableTestCase()
        : TestCase("MCS thresholds equal the live PHY's")
    {
    }

  private:
    void DoRun() override
    {
        EdgeOffloadParams p = Params({"--n_users=1", "--n_servers=1", "--n_channels=1"});
        EdgeOffloadArrayStore st(p);
        EdgeOffloadScenario s(p);
        s.Reset(1, st);
        Ptr<WifiPhy> phy = s.GetUserDevice(0)->GetPhy();
        const auto table = EdgeOffloadScenario::McsThresholdsDb();
        const double ber = EdgeOffloadScenario::IdealBerThreshold();
        for (uint8_t m = 0; m < 12; ++m)
        {
            const double live =
                10.0 * std::log10(phy->CalculateSnr(EdgeOffloadScenario::HeTxVector(m), ber));
            NS_TEST_EXPECT_MSG_EQ_TOL(live, table[m], 1e-9, "MCS " << int(m));
        }
        s.Teardown();
    }
};

/// Conservation, energies, shapes over an episode with every action component exercised.
class EpisodeTestCase : public TestCase
{
  public:
    EpisodeTestCase()
        : TestCase("episode invariants")
    {
    }

  private:
    void DoRun() override
    {
        EdgeOffloadParams p = Params({"--n_users=6", "--n_servers=2", "--n_channels=2",
                                      "--episode_steps=80", "--urllc_rate=30", "--embb_rate=3",
                                      "--mmtc_rate=5", "--max_tasks=6"});
        EdgeOffloadArrayStore st(p);
        EdgeOffloadScenario s(p);
        s.Reset(3, st);
        const uint32_t U = 6;
        const uint32_t W = p.ObsWidth();
        NS_TEST_EXPECT_MSG_EQ(st.obs.size(), U * W, "obs width");
        std::vector<int64_t> created(3 * U, 0), done(3 * U, 0), late(3 * U, 0);
        int64_t totalDone = 0;
        int64_t offloadedDone = 0;
        double uplink = 0.0;
        while (!s.EpisodeOver())
        {
            Policy(s.GetStep(), p, st.actions);
            s.Step(st.actions, st);
            for (uint32_t u = 0; u < U; ++u)
            {
                NS_TEST_EXPECT_MSG_GT_OR_EQ(st.energyCpu[u], 0.0, "cpu energy");
                NS_TEST_EXPECT_MSG_GT_OR_EQ(st.energyRadio[u], 0.0, "radio energy");
                uplink += st.uplinkBits[u];
                for (int c = 0; c < 3; ++c)
                {
                    const size_t i = 3 * u + c;
                    created[i] += st.created[i];
                    done[i] += st.done[i];
                    late[i] += st.late[i];
                    totalDone += st.done[i];
                    NS_TEST_EXPECT_MSG_EQ(created[i], done[i] + late[i] + st.waiting[i],
                                          "conservation user " << u << " class " << c
                                                               << " step " << s.GetStep());
                    NS_TEST_EXPECT_MSG_EQ(st.waiting[i], s.GetHeld(u, c), "waiting");
                    const auto tot = s.GetTotals(u, c);
                    NS_TEST_EXPECT_MSG_EQ(tot[0], created[i], "totals");
                }
                for (uint32_t w = 0; w < W; ++w)
                {
                    NS_TEST_EXPECT_MSG_EQ(std::isfinite(st.obs[u * W + w]), true, "obs finite");
                }
                NS_TEST_EXPECT_MSG_EQ(std::isfinite(st.reward[u]), true, "reward finite");
            }
            offloadedDone += static_cast<int64_t>(st.metrics[EdgeOffloadScenario::TASKS_AT_SERVERS]);
        }
        NS_TEST_EXPECT_MSG_GT(totalDone, 0, "some tasks done");
        NS_TEST_EXPECT_MSG_GT(offloadedDone, 0, "some tasks reached a server");
        NS_TEST_EXPECT_MSG_GT(uplink, 0.0, "uplink bits");
        s.Teardown();
    }
};

/// Distance of a point to the nearest lane-graph piece (lanes and connectors) of the layout.
double
DistToPieces(const FactoryAlleyLayout& lay, const Vector& p)
{
    double best = 1e300;
    for (size_t i = 0; i < lay.pieceStart.size(); ++i)
    {
        const Vector2D a = lay.pieceStart[i];
        const Vector2D b = lay.pieceEnd[i];
        const double abx = b.x - a.x;
        const double aby = b.y - a.y;
        const double den = abx * abx + aby * aby;
        double t = den > 0.0 ? ((p.x - a.x) * abx + (p.y - a.y) * aby) / den : 0.0;
        t = std::min(1.0, std::max(0.0, t));
        best = std::min(best, std::hypot(p.x - (a.x + t * abx), p.y - (a.y + t * aby)));
    }
    return best;
}

/// mobility=alleys: users stay on the lanes of the 180 m x 80 m tile, at user_height, keep
/// 1 m apart and move every kLargeScaleEvery intervals.
class AlleysTestCase : public TestCase
{
  public:
    AlleysTestCase()
        : TestCase("mobility=alleys keeps users on the lanes and moves them")
    {
    }

  private:
    void DoRun() override
    {
        EdgeOffloadParams p = Params({"--n_users=8", "--mobility=alleys", "--speed=3",
                                      "--episode_steps=60", "--urllc_rate=20"});
        const FactoryAlleyLayout lay = BuildFactoryAlleyLayout(1, 1);
        EdgeOffloadArrayStore st(p);
        EdgeOffloadScenario s(p);
        s.Reset(2, st);
        const uint32_t U = 8;
        std::vector<Vector> start(U);
        std::vector<Vector> prev(U);
        for (uint32_t u = 0; u < U; ++u)
        {
            start[u] = prev[u] = s.GetUserPosition(u);
        }
        while (!s.EpisodeOver())
        {
            Policy(s.GetStep(), p, st.actions);
            s.Step(st.actions, st);
            const bool moved = s.GetStep() % EdgeOffloadScenario::kLargeScaleEvery == 0;
            for (uint32_t u = 0; u < U; ++u)
            {
                const Vector pos = s.GetUserPosition(u);
                NS_TEST_EXPECT_MSG_LT(DistToPieces(lay, pos), 1e-9, "user " << u << " on a lane");
                NS_TEST_EXPECT_MSG_EQ_TOL(pos.z, p.user_height, 1e-12, "height");
                NS_TEST_EXPECT_MSG_EQ_TOL(st.positions[2 * u], pos.x, 1e-12, "reported x");
                NS_TEST_EXPECT_MSG_EQ_TOL(st.positions[2 * u + 1], pos.y, 1e-12, "reported y");
                const double step = std::hypot(pos.x - prev[u].x, pos.y - prev[u].y);
                NS_TEST_EXPECT_MSG_LT_OR_EQ(step, 3.0 * 10 * p.interval_s + 1e-9, "speed");
                if (!moved)
                {
                    NS_TEST_EXPECT_MSG_EQ(step, 0.0, "moves only on the large-scale refresh");
                }
                for (uint32_t v = 0; v < u; ++v)
                {
                    const Vector q = s.GetUserPosition(v);
                    NS_TEST_EXPECT_MSG_GT_OR_EQ(std::hypot(pos.x - q.x, pos.y - q.y),
                                                kAlleyMinSeparation - 1e-9, "separation");
                }
                prev[u] = pos;
            }
        }
        double total = 0.0;
        for (uint32_t u = 0; u < U; ++u)
        {
            total += std::hypot(prev[u].x - start[u].x, prev[u].y - start[u].y);
        }
        NS_TEST_EXPECT_MSG_GT(total / U, 0.3, "users moved (0.6 s at 3 m/s: up to 1.8 m)");
        s.Teardown();
    }
};

/// A lone local URLLC task: latency cycles / f and CPU energy kappa f^2 cycles.
class LoneLocalTaskTestCase : public TestCase
{
  public:
    LoneLocalTaskTestCase()
        : TestCase("lone local task: latency and kappa f^2 cycles")
    {
    }

  private:
    void DoRun() override
    {
        // p_URLLC = 100 x 0.01 = 1: exactly one task per interval; no other class.
        EdgeOffloadParams p = Params({"--n_users=1", "--n_servers=1", "--n_channels=1",
                                      "--urllc_rate=100", "--embb_rate=0", "--mmtc_rate=0",
                                      "--cpu_idle_power_w=0", "--episode_steps=3"});
        EdgeOffloadArrayStore st(p);
        EdgeOffloadScenario s(p);
        s.Reset(1, st);
        st.actions[0] = 0; // local
        st.actions[1] = 0;
        st.actions[2] = 3; // 1.5 GHz
        s.Step(st.actions, st);
        const double f = 1.5e9;
        const double cycles = 1000 * 737.5;
        NS_TEST_EXPECT_MSG_EQ(st.done[0], 1, "done");
        NS_TEST_EXPECT_MSG_EQ_TOL(st.latencySum[0], cycles / f, 2e-9, "latency = cycles / f");
        NS_TEST_EXPECT_MSG_EQ_TOL(st.energyCpu[0], 1e-28 * f * f * cycles,
                                  1e-28 * f * f * f * 2e-9, "energy = kappa f^2 cycles");
        NS_TEST_EXPECT_MSG_EQ(st.energyRadio[0], 0.0, "no radio use");
        NS_TEST_EXPECT_MSG_EQ(st.uplinkBits[0], 0.0, "");
        s.Teardown();
    }
};

/// The same run replays exactly; another run differs.
class DeterminismTestCase : public TestCase
{
  public:
    DeterminismTestCase()
        : TestCase("a run number replays its episode")
    {
    }

  private:
    void DoRun() override
    {
        EdgeOffloadParams p = Params({"--n_users=5", "--n_channels=2", "--episode_steps=30",
                                      "--embb_rate=5"});
        auto run = [&p](uint64_t r) {
            EdgeOffloadArrayStore st(p);
            EdgeOffloadScenario s(p);
            std::vector<double> trace;
            s.Reset(r, st);
            while (!s.EpisodeOver())
            {
                Policy(s.GetStep(), p, st.actions);
                s.Step(st.actions, st);
                trace.insert(trace.end(), st.obs.begin(), st.obs.end());
                trace.insert(trace.end(), st.reward.begin(), st.reward.end());
                trace.insert(trace.end(), st.airBytes.begin(), st.airBytes.end());
            }
            s.Teardown();
            return trace;
        };
        const auto a = run(7);
        const auto b = run(7);
        const auto c = run(8);
        NS_TEST_EXPECT_MSG_EQ((a == b), true, "same run, same episode");
        NS_TEST_EXPECT_MSG_EQ((a == c), false, "another run, another episode");
    }
};

/// CpuEnergyModel alone: power per state and the source's bookkeeping.
class CpuModelTestCase : public TestCase
{
  public:
    CpuModelTestCase()
        : TestCase("CpuEnergyModel draws kappa f^3 busy, idle power idle")
    {
    }

  private:
    void DoRun() override
    {
        auto cpu = CreateObject<energy::CpuEnergyModel>();
        cpu->SetAttribute("Kappa", DoubleValue(1e-28));
        cpu->SetAttribute("IdlePowerW", DoubleValue(0.5));
        cpu->SetFrequency(1e9);
        Simulator::Schedule(Seconds(1), [cpu] { cpu->ChangeState(energy::CpuEnergyModel::BUSY); });
        Simulator::Schedule(Seconds(3), [cpu] { cpu->SetFrequency(2e9); });
        Simulator::Schedule(Seconds(4), [cpu] { cpu->ChangeState(energy::CpuEnergyModel::IDLE); });
        Simulator::Stop(Seconds(5));
        Simulator::Run();
        // idle 1 s + busy 2 s at 0.1 W + busy 1 s at 0.8 W + idle 1 s
        NS_TEST_EXPECT_MSG_EQ_TOL(cpu->GetTotalEnergyConsumption(), 0.5 + 0.2 + 0.8 + 0.5, 1e-12,
                                  "energy");
        Simulator::Destroy();
    }
};

/// A user that changes channel at every interval while its eMBB task is being sent: the
/// datagrams queued for the old channel's device are re-sent on the new channel (those already
/// transmitted once stay parked there); the task still arrives and completes.
class ChannelSwitchTestCase : public TestCase
{
  public:
    ChannelSwitchTestCase()
        : TestCase("a channel switch mid-upload re-sends and the task completes")
    {
    }

  private:
    void DoRun() override
    {
        EdgeOffloadParams p = Params({"--n_users=1", "--n_servers=1", "--n_channels=2",
                                      "--speed=0", "--urllc_rate=0", "--embb_rate=100",
                                      "--mmtc_rate=0", "--episode_steps=60"});
        EdgeOffloadArrayStore st(p);
        EdgeOffloadScenario s(p);
        s.Reset(2, st);
        int64_t offloadedDone = 0;
        double resent = 0.0;
        double switches = 0.0;
        while (!s.EpisodeOver())
        {
            const uint32_t t = s.GetStep();
            st.actions[0] = t == 0 ? 1 : 0; // only the first task is offloaded
            st.actions[1] = static_cast<int32_t>(t % 2);
            st.actions[2] = 0;
            s.Step(st.actions, st);
            resent += st.metrics[EdgeOffloadScenario::DATAGRAMS_RESENT];
            switches += st.metrics[EdgeOffloadScenario::SWITCHES];
            if (st.done[1] > 0 && st.energyRadio[0] > 0.0)
            {
                offloadedDone += st.done[1];
            }
        }
        NS_TEST_EXPECT_MSG_GT(switches, 10.0, "switches");
        NS_TEST_EXPECT_MSG_GT(resent, 0.0, "datagrams taken back or dropped are re-sent");
        NS_TEST_EXPECT_MSG_EQ(offloadedDone, 1, "the offloaded task completed");
        s.Teardown();
    }
};

/// Every user picks a new random target, channel and level at every interval, with traffic on
/// every channel: switches land during receptions, SIFS responses and transmissions (a switch
/// while an Ack was due once made ns-3 assert in WifiPhy::Send; TrySwitch waits for it).
class SwitchStormTestCase : public TestCase
{
  public:
    SwitchStormTestCase()
        : TestCase("channel switches at every interval under load")
    {
    }

  private:
    void DoRun() override
    {
        EdgeOffloadParams p = Params({"--n_users=20", "--episode_steps=80", "--embb_rate=5"});
        EdgeOffloadArrayStore st(p);
        EdgeOffloadScenario s(p);
        uint64_t x = 12345;
        auto next = [&x](uint32_t n) {
            x = x * 6364136223846793005ULL + 1442695040888963407ULL;
            return static_cast<int32_t>((x >> 33) % n);
        };
        double switches = 0.0;
        int64_t done = 0;
        for (uint64_t run : {1, 2})
        {
            s.Reset(run, st);
            while (!s.EpisodeOver())
            {
                for (uint32_t u = 0; u < 20; ++u)
                {
                    st.actions[3 * u] = next(3);
                    st.actions[3 * u + 1] = next(4);
                    st.actions[3 * u + 2] = next(4);
                }
                s.Step(st.actions, st);
                switches += st.metrics[EdgeOffloadScenario::SWITCHES];
                for (uint32_t i = 0; i < 60; ++i)
                {
                    done += st.done[i];
                }
            }
        }
        NS_TEST_EXPECT_MSG_GT(switches, 1500.0, "switches");
        NS_TEST_EXPECT_MSG_GT(done, 0, "tasks done");
        s.Teardown();
    }
};

/// Users that hop between the two channels at every interval against users that keep theirs:
/// a hopping user transmits nothing to a device off its channel (its frames for the old
/// channel's device wait, blocked, until it comes back), its data PPDUs are never non-HT and
/// at HE MCS 0 at most once per (user, AP device) pair (ns-3's MAC resets its remote station
/// manager at every switch; UnparkPeers restores the peers), and its radio transmits about
/// as long as without hopping. Before the fix this test counted 260 PPDUs off channel and 131
/// non-HT data PPDUs (of 275); at U = 20 over 200 intervals 1400 of 3200 PPDUs went to the old
/// channel's device, 1000 data PPDUs at non-HT 6 Mbit/s, 3x the TX time.
class HopCostTestCase : public TestCase
{
  public:
    HopCostTestCase()
        : TestCase("hopping users keep their peers' state and stay off other channels")
    {
    }

  private:
    struct Count
    {
        uint32_t offChannel{0}; //!< PPDUs to an AP device not on the sender's channel
        uint32_t nonHtData{0};  //!< data PPDUs at a non-HT rate
        uint32_t mcs0Data{0};   //!< data PPDUs at HE MCS 0
        uint32_t data{0};       //!< data PPDUs
        double txS{0.0};        //!< users' PHY TX time
    };

    static Count Run(bool hop)
    {
        EdgeOffloadParams p = Params({"--n_users=4", "--n_servers=1", "--n_channels=2",
                                      "--speed=0", "--embb_rate=20", "--episode_steps=60"});
        EdgeOffloadArrayStore st(p);
        EdgeOffloadScenario s(p);
        s.Reset(3, st);
        Count c;
        std::map<Mac48Address, uint32_t> channelOf;
        for (uint32_t k = 0; k < 2; ++k)
        {
            channelOf[Mac48Address::ConvertFrom(s.GetApDevice(0, k)->GetAddress())] = k;
        }
        for (uint32_t u = 0; u < 4; ++u)
        {
            Ptr<WifiPhy> phy = s.GetUserDevice(u)->GetPhy();
            phy->TraceConnectWithoutContext(
                "PhyTxPsduBegin",
                Callback<void, WifiConstPsduMap, WifiTxVector, double>(
                    [&c, &channelOf, phy](WifiConstPsduMap psdus, WifiTxVector v, double) {
                        c.txS += WifiPhy::CalculateTxDuration(psdus, v, phy->GetPhyBand())
                                     .GetSeconds();
                        const WifiMacHeader& h = psdus.begin()->second->GetHeader(0);
                        auto it = channelOf.find(h.GetAddr1());
                        const uint32_t k = (phy->GetChannelNumber() - 1) / 4;
                        if (it != channelOf.end() && it->second != k)
                        {
                            ++c.offChannel;
                        }
                        if (h.IsQosData())
                        {
                            ++c.data;
                            if (v.GetMode().GetModulationClass() < WIFI_MOD_CLASS_HT)
                            {
                                ++c.nonHtData;
                            }
                            else if (v.GetMode().GetMcsValue() == 0)
                            {
                                ++c.mcs0Data;
                            }
                        }
                    }));
        }
        while (!s.EpisodeOver())
        {
            const uint32_t t = s.GetStep();
            for (uint32_t u = 0; u < 4; ++u)
            {
                st.actions[3 * u] = 1;
                st.actions[3 * u + 1] = static_cast<int32_t>((u + (hop ? t : 0)) % 2);
                st.actions[3 * u + 2] = 0;
            }
            s.Step(st.actions, st);
        }
        s.Teardown();
        return c;
    }

    void DoRun() override
    {
        const Count fixed = Run(false);
        const Count hop = Run(true);
        std::cout << "hop: " << hop.data << " data PPDUs, " << hop.offChannel
                  << " off channel, " << hop.nonHtData << " non-HT, " << hop.mcs0Data
                  << " MCS 0, TX " << hop.txS << " s; fixed: " << fixed.data << " data, TX "
                  << fixed.txS << " s, " << fixed.mcs0Data << " MCS 0\n";
        NS_TEST_EXPECT_MSG_GT(hop.data, 100u, "traffic");
        NS_TEST_EXPECT_MSG_EQ(hop.offChannel, 0u, "PPDUs to a device off the user's channel");
        NS_TEST_EXPECT_MSG_EQ(hop.nonHtData, 0u, "data PPDUs at non-HT rates");
        // (MCS 0 also where the link's SNR is below MCS 1's threshold, with or without hopping.)
        NS_TEST_EXPECT_MSG_LT_OR_EQ(hop.mcs0Data,
                                    fixed.mcs0Data + 4u * 2u,
                                    "MCS 0 once per (user, device) beyond the fixed-channel run");
        NS_TEST_EXPECT_MSG_LT(hop.txS, 1.3 * fixed.txS, "TX time against fixed channels");
    }
};

/// A bad action is refused with a message naming the agent and the component.
class BadActionTestCase : public TestCase
{
  public:
    BadActionTestCase()
        : TestCase("a bad action names the agent")
    {
    }

  private:
    void DoRun() override
    {
        EdgeOffloadParams p = Params({"--n_users=3", "--episode_steps=2"});
        EdgeOffloadArrayStore st(p);
        EdgeOffloadScenario s(p);
        s.Reset(1, st);
        st.actions[3 * 2 + 1] = 4; // user 2, channel 4 of K = 4
        std::string msg;
        try
        {
            s.Step(st.actions, st);
        }
        catch (const std::invalid_argument& e)
        {
            msg = e.what();
        }
        NS_TEST_EXPECT_MSG_EQ((msg.find("agent 2 (user_2): channel 4 is not in [0, 3]") !=
                               std::string::npos),
                              true, msg);
        s.Teardown();
    }
};

/// EdgeWifiRadioEnergyModel: I(state) V per second, exact zeros, the source integrates it.
class RadioModelTestCase : public TestCase
{
  public:
    RadioModelTestCase()
        : TestCase("EdgeWifiRadioEnergyModel integrates I(state) V")
    {
    }

  private:
    void DoRun() override
    {
        auto src = CreateObject<energy::BasicEnergySource>();
        src->SetInitialEnergy(1000.0);
        src->SetSupplyVoltage(3.0);
        auto radio = CreateObject<energy::EdgeWifiRadioEnergyModel>();
        radio->SetTxCurrentA(0.38);
        radio->SetRxCurrentA(0.313);
        radio->SetIdleCurrentA(0.0);
        radio->SetCcaBusyCurrentA(0.0);
        radio->SetEnergySource(src);
        src->AppendDeviceEnergyModel(radio);
        auto at = [radio](double t, WifiPhyState s) {
            Simulator::Schedule(Seconds(t), [radio, s] { radio->ChangeState(static_cast<int>(s)); });
        };
        at(1.0, WifiPhyState::TX);
        at(3.0, WifiPhyState::CCA_BUSY);
        at(4.0, WifiPhyState::RX);
        at(4.5, WifiPhyState::IDLE);
        Simulator::Stop(Seconds(10));
        Simulator::Run();
        const double e = 3.0 * (2.0 * 0.38 + 0.5 * 0.313);
        NS_TEST_EXPECT_MSG_EQ_TOL(radio->GetTotalEnergyConsumption(), e, 1e-12, "model");
        src->UpdateEnergySource();
        NS_TEST_EXPECT_MSG_EQ_TOL(1000.0 - src->GetRemainingEnergy(), e, 1e-9, "source");
        Simulator::Destroy();
    }
};

class FedmarlEdgeOffloadTestSuite : public TestSuite
{
  public:
    FedmarlEdgeOffloadTestSuite()
        : TestSuite("fedmarl-edge-offload", Type::SYSTEM)
    {
        AddTestCase(new ParamsTestCase, Duration::QUICK);
        AddTestCase(new CpuModelTestCase, Duration::QUICK);
        AddTestCase(new RadioModelTestCase, Duration::QUICK);
        AddTestCase(new McsTableTestCase, Duration::QUICK);
        AddTestCase(new LoneLocalTaskTestCase, Duration::QUICK);
        AddTestCase(new EpisodeTestCase, Duration::QUICK);
        AddTestCase(new AlleysTestCase, Duration::QUICK);
        AddTestCase(new DeterminismTestCase, Duration::QUICK);
        AddTestCase(new ChannelSwitchTestCase, Duration::QUICK);
        AddTestCase(new SwitchStormTestCase, Duration::QUICK);
        AddTestCase(new HopCostTestCase, Duration::QUICK);
        AddTestCase(new BadActionTestCase, Duration::QUICK);
    }
};

FedmarlEdgeOffloadTestSuite g_fedmarlEdgeOffloadTestSuite;

} // namespace

int
main(int argc, char** argv)
{
    return TestRunner::Run(argc, argv);
}
