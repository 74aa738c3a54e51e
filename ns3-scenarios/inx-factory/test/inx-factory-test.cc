/*
 * fedmarl-ns3: in-process episodes of the inx-factory scenario with invariant checks.
 * SPDX-License-Identifier: GPL-2.0-only
 *
 * Run: build/bin/fedmarl-inx-factory-test (exit status 0 iff all pass), or with ns-3's
 * test-runner options, e.g. --suite=fedmarl-inx-factory --verbose.
 */

#include "inf-channel.h"
#include "inx-factory-contract.h"
#include "inx-factory-params.h"
#include "inx-factory-scenario.h"
#include "inx-subnetwork-mac.h"

#include "ns3/test.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <unistd.h>
#include <iostream>
#include <numeric>
#include <stdexcept>
#include <string>
#include <vector>

using namespace ns3;
using namespace ns3::fedmarl;

namespace
{

/// Parameters from flags, as the binary parses them.
InxFactoryParams
Params(const std::vector<std::string>& flags)
{
    InxFactoryParams p;
    ParseInxFactoryFlags(flags, p);
    p.ValidateRelations();
    return p;
}

/// A policy that moves agents around so that switching is exercised.
int32_t
Action(uint32_t t, uint32_t n, uint32_t k)
{
    return static_cast<int32_t>((t / 7 + 3 * n) % k);
}

/// A test case that runs scenario steps and checks the invariants of their outputs.
class ScenarioTestCase : public TestCase
{
  public:
    /// @param name the test's name
    explicit ScenarioTestCase(const std::string& name)
        : TestCase(name)
    {
    }

  protected:
    /// What the checks remember between steps.
    struct History
    {
        std::vector<double> maxSnr;      //!< best SNR per device so far
        std::vector<int32_t> lastChannel; //!< channel of the previous step, -1 before
        std::vector<int64_t> queued;     //!< queue length per device after the previous step
    };

    /// @param s the scenario @return an empty history for it
    static History NewHistory(const InxFactoryScenario& s)
    {
        return {std::vector<double>(s.GetN() * s.GetM(), 0.0),
                std::vector<int32_t>(s.GetN(), -1),
                std::vector<int64_t>(s.GetN() * s.GetM(), 0)};
    }

    /**
     * The invariants of one step's outputs.
     * @param s the scenario
     * @param st its arrays after Reset or Step
     * @param h what earlier steps left
     */
    void CheckStep(const InxFactoryScenario& s, const InxFactoryArrayStore& st, History& h)
    {
        const auto& p = s.GetParams();
        const uint32_t n = s.GetN();
        const uint32_t m = s.GetM();
        const uint32_t k = s.GetK();
        const double noise = s.GetNoisePower();
        const double bits = 8.0 * p.packet_size;
        NS_TEST_EXPECT_MSG_EQ(st.obs.size(), static_cast<size_t>(n) * s.GetW(), "obs size");
        for (float o : st.obs)
        {
            NS_TEST_EXPECT_MSG_EQ((std::isfinite(o) && o >= -150.0f && o <= 150.0f),
                                  true,
                                  "finite, clipped obs");
        }
        uint64_t delivered = 0;
        for (uint32_t a = 0; a < n; ++a)
        {
            const auto& mac = s.GetMacs()[a];
            NS_TEST_EXPECT_MSG_LT(st.channel[a], static_cast<int32_t>(k), "channel index");
            if (h.lastChannel[a] >= 0)
            {
                NS_TEST_EXPECT_MSG_EQ((st.switched[a] == 1),
                                      (st.channel[a] != h.lastChannel[a]),
                                      "switched iff the channel changed, agent " << a);
            }
            h.lastChannel[a] = st.channel[a];
            NS_TEST_EXPECT_MSG_EQ((st.airtime[a] >= 0.0f && st.airtime[a] <= 1.0f),
                                  true,
                                  "airtime fraction");
            std::vector<double> rates(m);
            for (uint32_t j = 0; j < m; ++j)
            {
                const uint32_t d = a * m + j;
                const auto& ds = mac->GetDeviceStats(j);
                // Every packet a TB carried was delivered or lost.
                NS_TEST_EXPECT_MSG_EQ(static_cast<uint32_t>(st.delivered[d] + st.lost[d]),
                                      ds.tbPackets,
                                      "delivered + lost = TB packets, device " << d);
                // Packets are conserved across intervals.
                NS_TEST_EXPECT_MSG_EQ(h.queued[d] + (p.traffic == "full-buffer" ? ds.tbPackets
                                                                                   : ds.created),
                                      static_cast<int64_t>(ds.tbPackets + st.dropped[d] +
                                                           st.queue[d]),
                                      "queue + created = sent + dropped + queue', device " << d);
                NS_TEST_EXPECT_MSG_LT_OR_EQ(st.queue[d], p.queue_size, "queue bounded");
                h.queued[d] = st.queue[d];
                delivered += st.delivered[d];
                // Rates within the FBL ceiling: a TB's rate P S / n never exceeds the FBL rate
                // of its SINR estimate (or one packet per blocklength, the floor rule), and no
                // estimate exceeds the best SNR seen so far.
                const double snr = s.GetSignalPower(d) / noise;
                h.maxSnr[d] = std::max(h.maxSnr[d], snr);
                const double ceiling =
                    std::max(FblSe(h.maxSnr[d], p.blocklength, p.error_prob),
                             bits / p.blocklength) *
                    st.airtime[a];
                NS_TEST_EXPECT_MSG_EQ((st.rateFbl[d] >= 0.0f), true, "rate >= 0");
                NS_TEST_EXPECT_MSG_LT_OR_EQ(st.rateFbl[d],
                                            ceiling * (1 + 1e-5) + 1e-6,
                                            "FBL ceiling, device " << d);
                NS_TEST_EXPECT_MSG_EQ_TOL(st.rateFbl[d] * p.channel_bandwidth_hz *
                                              p.step_duration,
                                          st.delivered[d] * bits,
                                          1e-4 * std::max(1.0, st.delivered[d] * bits),
                                          "rate_fbl = delivered bits / (B T)");
                NS_TEST_EXPECT_MSG_EQ_TOL(st.sinr[d],
                                          st.sinrPerChannel[d * k + st.channel[a]],
                                          1e-6 * st.sinr[d],
                                          "sinr on the channel in use");
                NS_TEST_EXPECT_MSG_EQ_TOL(st.rateShannon[d],
                                          std::log2(1.0 + st.sinr[d]),
                                          1e-5,
                                          "Shannon rate");
                NS_TEST_EXPECT_MSG_EQ_TOL(st.sinr[d],
                                          s.GetSignalPower(d) / (st.interference[d] + noise),
                                          1e-5 * st.sinr[d],
                                          "sinr = S / (I + noise)");
                NS_TEST_EXPECT_MSG_LT_OR_EQ(st.delayMax[d] * (1 - 1e-6),
                                            st.delaySum[d],
                                            "max delay <= delay sum");
                if (st.delivered[d] > 0)
                {
                    NS_TEST_EXPECT_MSG_LT_OR_EQ(st.delaySum[d],
                                                st.delayMax[d] * st.delivered[d] * (1 + 1e-6),
                                                "delay sum <= max * count");
                }
                rates[j] = st.rateFbl[d];
            }
            NS_TEST_EXPECT_MSG_EQ_TOL(st.reward[a],
                                      RewardEq13(rates, p.r_min, p.lambda_rate, p.lambda_penalty),
                                      1e-4,
                                      "reward eq. 13 on rate_fbl");
            NS_TEST_EXPECT_MSG_EQ(st.coupling[a * n + a], 0.0f, "coupling diagonal 0");
            const Vector ap = s.GetApPosition(a);
            NS_TEST_EXPECT_MSG_EQ(st.positions[2 * a], static_cast<float>(ap.x), "AP x, " << a);
            NS_TEST_EXPECT_MSG_EQ(st.positions[2 * a + 1],
                                  static_cast<float>(ap.y),
                                  "AP y, " << a);
        }
        const auto histSum = std::accumulate(st.delayHist.begin(), st.delayHist.end(), 0LL);
        NS_TEST_EXPECT_MSG_EQ(static_cast<uint64_t>(histSum), delivered, "delay histogram sum");
        NS_TEST_EXPECT_MSG_EQ(st.metrics[InxFactoryScenario::DELIVERED],
                              static_cast<double>(delivered),
                              "metrics: delivered");
        NS_TEST_EXPECT_MSG_EQ(st.metrics[InxFactoryScenario::STEP], s.GetStep(), "step index");
        NS_TEST_EXPECT_MSG_EQ_TOL(st.metrics[InxFactoryScenario::SIM_TIME],
                                  (s.GetStep() + 1) * p.step_duration,
                                  1e-9,
                                  "simulated time at the interval's end");
        NS_TEST_EXPECT_MSG_GT(st.metrics[InxFactoryScenario::EVENTS], 0.0, "events ran");
    }
};

/// A full episode at N = 5: invariants every step; full-buffer throughput against the FBL rate.
class EpisodeTestCase : public ScenarioTestCase
{
  public:
    EpisodeTestCase()
        : ScenarioTestCase("full episode at N=5: invariants; full-buffer rate_fbl within 15 % "
                           "of the FBL rate at the measured SINRs")
    {
    }

  private:
    /// Devices ride on their robot: within subnetwork_radius of it, at device_height.
    /// @param s the scenario
    void CheckGeometry(const InxFactoryScenario& s)
    {
        const auto& p = s.GetParams();
        for (uint32_t d = 0; d < s.GetN() * s.GetM(); ++d)
        {
            const Vector ap = s.GetApPosition(d / s.GetM());
            const Vector dev = s.GetDevicePosition(d);
            NS_TEST_EXPECT_MSG_EQ_TOL(ap.z, p.ResolvedApHeight(), 1e-12, "AP height");
            NS_TEST_EXPECT_MSG_EQ_TOL(dev.z, p.device_height, 1e-12, "device height");
            NS_TEST_EXPECT_MSG_LT_OR_EQ(std::hypot(dev.x - ap.x, dev.y - ap.y),
                                        p.subnetwork_radius + 1e-12,
                                        "device " << d << " within the radius of its AP");
        }
    }

    void DoRun() override
    {
        const auto p = Params({"--n_subnetworks=5"});
        InxFactoryScenario s(p);
        InxFactoryArrayStore st(p);
        s.Reset(1, st.Views());
        NS_TEST_ASSERT_MSG_EQ(s.GetStep(), 0, "t = 0 after reset");
        CheckGeometry(s);
        NS_TEST_EXPECT_MSG_GT(st.metrics[InxFactoryScenario::TBS], 0.0, "warm-up ran");
        auto h = NewHistory(s);
        CheckStep(s, st, h);
        // The observation is twin.observation(): mean over one device of 10 log10(SINR_k).
        for (uint32_t i = 0; i < st.sinrPerChannel.size(); ++i)
        {
            NS_TEST_EXPECT_MSG_EQ_TOL(st.obs[i],
                                      10.0 * std::log10(st.sinrPerChannel[i]),
                                      1e-4,
                                      "obs = SINR in dB");
        }
        double sumRate = 0.0;
        double sumFbl = 0.0;
        uint32_t switches = 0;
        std::vector<int32_t> actions(s.GetN());
        while (!s.EpisodeOver())
        {
            for (uint32_t n = 0; n < s.GetN(); ++n)
            {
                actions[n] = Action(s.GetStep(), n, s.GetK());
            }
            s.Step(actions, st.Views());
            CheckStep(s, st, h);
            for (uint32_t d = 0; d < st.rateFbl.size(); ++d)
            {
                sumRate += st.rateFbl[d];
                sumFbl += FblSe(st.sinr[d], p.blocklength, p.error_prob);
            }
            switches += std::accumulate(st.switched.begin(), st.switched.end(), 0u);
            if (s.GetStep() % 50 == 0)
            {
                CheckGeometry(s); // devices move with their robots
            }
        }
        NS_TEST_EXPECT_MSG_EQ(s.GetStep(), 200, "episode_steps steps");
        NS_TEST_EXPECT_MSG_GT(sumRate, 0.0, "packets delivered");
        NS_TEST_EXPECT_MSG_GT(switches, 5, "switches happened");
        const double ratio = sumRate / sumFbl;
        std::clog << "N=5 episode: mean rate_fbl " << sumRate / 1000 << " bps/Hz, mean FBL rate "
                  << "at the measured SINRs " << sumFbl / 1000 << " (ratio " << ratio << ")\n";
        NS_TEST_EXPECT_MSG_EQ_TOL(ratio, 1.0, 0.15, "packet throughput vs FBL rate");

        // Past the episode: an error that says to reset.
        std::string what;
        try
        {
            s.Step(actions, st.Views());
        }
        catch (const std::logic_error& e)
        {
            what = e.what();
        }
        NS_TEST_EXPECT_MSG_EQ((what.find("episode is over: reset") != std::string::npos),
                              true,
                              "STEP after the episode: " << what);
        // A bad action names the agent and the value, and changes nothing.
        s.Reset(2, st.Views());
        actions[3] = 9;
        what.clear();
        try
        {
            s.Step(actions, st.Views());
        }
        catch (const std::invalid_argument& e)
        {
            what = e.what();
        }
        NS_TEST_EXPECT_MSG_EQ((what.find("agent 3") != std::string::npos &&
                               what.find("is 9") != std::string::npos),
                              true,
                              "bad action message: " << what);
        NS_TEST_EXPECT_MSG_EQ(s.GetStep(), 0, "a rejected STEP changes nothing");
        s.Teardown();
    }
};

/// Several devices, full observation, Poisson traffic; the same run replays exactly.
class PoissonFullObsTestCase : public ScenarioTestCase
{
  public:
    PoissonFullObsTestCase()
        : ScenarioTestCase("N=5, M=3, K=3, obs_reduce=full, poisson traffic: invariants, "
                           "queues, determinism per RngRun")
    {
    }

  private:
    void DoRun() override
    {
        const auto p = Params({"--n_subnetworks=5",
                               "--n_devices=3",
                               "--n_channels=3",
                               "--obs_reduce=full",
                               "--obs_quantity=interference",
                               "--traffic=poisson",
                               "--packet_interval=5e-5",
                               "--queue_size=50",
                               "--episode_steps=30",
                               "--large_scale_update_steps=4"});
        NS_TEST_ASSERT_MSG_EQ(p.ObsWidth(), 9, "W = K M");
        auto run = [&](uint64_t rngRun, bool check) {
            InxFactoryScenario s(p);
            InxFactoryArrayStore st(p);
            s.Reset(rngRun, st.Views());
            auto h = NewHistory(s);
            if (check)
            {
                CheckStep(s, st, h);
            }
            std::vector<float> trace;
            std::vector<int32_t> actions(s.GetN());
            uint64_t dropped = 0;
            uint64_t delivered = 0;
            while (!s.EpisodeOver())
            {
                for (uint32_t n = 0; n < s.GetN(); ++n)
                {
                    actions[n] = Action(s.GetStep(), n, s.GetK());
                }
                s.Step(actions, st.Views());
                if (check)
                {
                    CheckStep(s, st, h);
                    // Full observation of interference: channel-major, devices inside, dBm.
                    for (uint32_t n = 0; n < s.GetN(); ++n)
                    {
                        for (uint32_t k = 0; k < 3; ++k)
                        {
                            for (uint32_t m = 0; m < 3; ++m)
                            {
                                const double i =
                                    s.GetMacs()[n]->GetMeasuredInterference(m)[k];
                                NS_TEST_EXPECT_MSG_EQ_TOL(
                                    st.obs[n * 9 + k * 3 + m],
                                    10.0 * std::log10(i + s.GetNoisePower()) + 30.0,
                                    1e-3,
                                    "obs[n, k M + m]");
                            }
                        }
                    }
                }
                for (size_t d = 0; d < st.dropped.size(); ++d)
                {
                    dropped += st.dropped[d];
                    delivered += st.delivered[d];
                }
                trace.insert(trace.end(), st.obs.begin(), st.obs.end());
                trace.insert(trace.end(), st.rateFbl.begin(), st.rateFbl.end());
                trace.insert(trace.end(), st.delaySum.begin(), st.delaySum.end());
            }
            if (check)
            {
                // 20 000 packets/s per device against >= 100 000 packets/s per AP shared by 3
                // devices: the queues are stable, nothing is dropped.
                NS_TEST_EXPECT_MSG_GT(delivered, 20000u, "poisson packets delivered");
                NS_TEST_EXPECT_MSG_EQ(dropped, 0u, "a stable load drops nothing");
            }
            return trace;
        };
        const auto a = run(7, true);
        const auto b = run(7, false);
        const auto c = run(8, false);
        NS_TEST_EXPECT_MSG_EQ((a == b), true, "the same RngRun replays the episode exactly");
        NS_TEST_EXPECT_MSG_EQ((a != c), true, "another RngRun gives another episode");
    }
};

/// Parameter parsing: names, ranges, derived defaults.
class ParamsTestCase : public ScenarioTestCase
{
  public:
    ParamsTestCase()
        : ScenarioTestCase("parameters: ranges, choices and derived defaults as the dataclass")
    {
    }

  private:
    void DoRun() override
    {
        auto fails = [](const std::string& flag, const std::string& expect) {
            try
            {
                Params({flag});
            }
            catch (const ParamError& e)
            {
                return std::string(e.what()).find(expect) != std::string::npos;
            }
            return false;
        };
        NS_TEST_EXPECT_MSG_EQ(fails("--n_subnetworks=0", "out of range [1, 20000]"), true, "");
        NS_TEST_EXPECT_MSG_EQ(fails("--n_subnetworks=2.5", "must be an integer"), true, "");
        NS_TEST_EXPECT_MSG_EQ(fails("--error_prob=0", "out of range (0, 0.5]"), true, "");
        NS_TEST_EXPECT_MSG_EQ(fails("--clutter=foggy", "must be one of sparse"), true, "");
        NS_TEST_EXPECT_MSG_EQ(fails("--bogus=1", "unknown flag --bogus"), true, "");
        NS_TEST_EXPECT_MSG_EQ(fails("--hall_tiles=0", "out of range [1, 64]"), true, "");
        NS_TEST_EXPECT_MSG_EQ(fails("--clutter=dense-high", "ap_height > clutter_height"),
                              false,
                              "DH defaults: 8 > 6 > 1.5");
        NS_TEST_EXPECT_MSG_EQ(fails("--clutter=sparse-high", "ap_height > clutter_height"),
                              false,
                              "SH defaults: 8 > 2 > 1.5");
        InxFactoryParams p;
        NS_TEST_EXPECT_MSG_EQ(p.ResolvedHallTiles(), 1, "auto at N = 20");
        p.n_subnetworks = 1000;
        NS_TEST_EXPECT_MSG_EQ(p.ResolvedHallTiles(), 4, "auto at N = 1000: ceil(sqrt(10))");
        p = Params({"--clutter=dense", "--blocklength=1e3", "--hall_tiles=auto"});
        NS_TEST_EXPECT_MSG_EQ(p.blocklength, 1000, "integers as floats");
        NS_TEST_EXPECT_MSG_EQ(p.InfScenario(), "DL", "dense = InF-DL");
        NS_TEST_EXPECT_MSG_EQ(p.ResolvedClutterDensity(), 0.6, "dense calibration");
        NS_TEST_EXPECT_MSG_EQ(p.ResolvedLosCorrDistance(), 1.0, "d_clutter / 2");
        NS_TEST_EXPECT_MSG_EQ(p.ResolvedApHeight(), 1.5, "low BS");
        p = Params({"--clutter=high-high", "--ap_height=None"});
        NS_TEST_EXPECT_MSG_EQ(p.ResolvedApHeight(), 8.0, "high BS");
        const std::string json = InxFactoryParamsJson();
        NS_TEST_EXPECT_MSG_EQ((json.find("\"hall_tiles\": \"auto\"") != std::string::npos),
                              true,
                              json);
        NS_TEST_EXPECT_MSG_EQ((json.find("\"ap_height\": null") != std::string::npos), true, "");
        NS_TEST_EXPECT_MSG_EQ((json.find("\"channel_bandwidth_hz\": 1e+07") != std::string::npos),
                              true,
                              json);
    }
};

/// The contract: array sizes from the dims of given parameters, the server's checks.
class ContractTestCase : public TestCase
{
  public:
    ContractTestCase()
        : TestCase("contract: array counts from the dims; the server refuses what ns-3 cannot run")
    {
    }

  private:
    void DoRun() override
    {
        const InxFactoryServer server = MakeInxFactoryServer();
        const auto p = server.ParseParams(
            {"--n_subnetworks=7", "--n_devices=3", "--n_channels=5", "--obs_reduce=full"});
        const Dims dims = server.DimsOf(p);
        NS_TEST_EXPECT_MSG_EQ(dims.at("W"), 15u, "W = K M for full observations");
        InxFactoryArrayStore st(p);
        NS_TEST_EXPECT_MSG_EQ(st.obs.size(), 105u, "N W");
        NS_TEST_EXPECT_MSG_EQ(st.sinrPerChannel.size(), 105u, "N M K");
        NS_TEST_EXPECT_MSG_EQ(st.coupling.size(), 49u, "N N");
        NS_TEST_EXPECT_MSG_EQ(st.positions.size(), 14u, "N 2");
        NS_TEST_EXPECT_MSG_EQ(st.delayHist.size(), InxSubnetworkMac::kDelayBins, "bins");
        NS_TEST_EXPECT_MSG_EQ(st.metrics.size(), InxFactoryScenario::kMetrics, "metric slots");
        NS_TEST_EXPECT_MSG_EQ(InxFactoryArrayTable().Entries().size(), 21u, "arrays");
        auto refused = [&server](const std::vector<std::string>& flags, const std::string& what) {
            try
            {
                server.ParseParams(flags);
            }
            catch (const ParamError& e)
            {
                return std::string(e.what()).find(what) != std::string::npos;
            }
            return false;
        };
        NS_TEST_EXPECT_MSG_EQ(refused({"--n_subnetworks=20000", "--hall_tiles=1"},
                                      "exceeds the lane capacity"),
                              true,
                              "lanes too full");
        NS_TEST_EXPECT_MSG_EQ(refused({"--step_duration=1e-10"}, "time resolution"), true, "");
        NS_TEST_EXPECT_MSG_EQ(refused({"--clutter_density=1"}, "LOS decay distance zero"),
                              true,
                              "");
        NS_TEST_EXPECT_MSG_EQ(refused({"--clutter=dense-high", "--ap_height=5"},
                                      "ap_height > clutter_height"),
                              true,
                              "relations");
        const std::string c = server.ContractJson();
        NS_TEST_EXPECT_MSG_EQ((c.find("\"name\": \"positions\", \"dtype\": \"f32\", "
                                      "\"shape\": [\"N\", 2]") != std::string::npos),
                              true,
                              c.substr(0, 200));
    }
};

/// All the scenario tests.
/// Trace-driven mode (--drive=FILE): every interval's positions and channels are the file's.
class DriveTestCase : public TestCase
{
  public:
    DriveTestCase()
        : TestCase("trace-driven mode: positions and channels from the drive file, step by step;"
                   " a file that does not fit is refused naming what")
    {
    }

  private:
    /// Write a drive file of `episodes` x `records` records for N APs with one device each.
    static void Write(const std::string& path, uint32_t n, uint32_t episodes, uint32_t records,
                      bool truncate)
    {
        std::FILE* f = std::fopen(path.c_str(), "wb");
        const uint32_t dims[4] = {n, n, episodes, records};
        std::fwrite("FMDRIVE1", 1, 8, f);
        std::fwrite(dims, sizeof(uint32_t), 4, f);
        for (uint32_t e = 0; e < episodes; ++e)
        {
            for (uint32_t t = 0; t < records; ++t)
            {
                for (uint32_t i = 0; i < n; ++i)
                {
                    const auto ch = static_cast<int32_t>((t + i + e) % 3);
                    std::fwrite(&ch, sizeof(int32_t), 1, f);
                }
                for (uint32_t who = 0; who < 2; ++who) // APs, then devices
                {
                    for (uint32_t i = 0; i < n; ++i)
                    {
                        const double xyz[3] = {Coordinate(e, t, i) + 0.5 * who, 7.0 * i, 1.5};
                        std::fwrite(xyz, sizeof(double), 3, f);
                    }
                }
            }
        }
        if (truncate)
        {
            std::fflush(f);
            (void)!ftruncate(fileno(f), 8 + 16 + 40);
        }
        std::fclose(f);
    }

    /// The x coordinate of AP i at record t of episode e: jumps metres between steps.
    static double Coordinate(uint32_t e, uint32_t t, uint32_t i)
    {
        return 10.0 + 3.0 * t + 20.0 * i + 100.0 * e;
    }

    void DoRun() override
    {
        const std::string path = "/tmp/fedmarl-drive-test-" + std::to_string(getpid()) + ".bin";
        const auto p = Params({"--n_subnetworks=3", "--n_channels=3", "--episode_steps=4"});
        Write(path, 3, 2, 5, false);
        {
            InxFactoryScenario s(p);
            s.SetDriveFile(path);
            InxFactoryArrayStore st(p);
            for (uint32_t e = 0; e < 2; ++e) // the second RESET plays the second episode
            {
                s.Reset(1 + e, st.Views());
                for (uint32_t t = 0; t <= 4; ++t)
                {
                    if (t > 0)
                    {
                        std::vector<int32_t> actions(3, 0); // not used when driven
                        s.Step(actions, st.Views());
                    }
                    for (uint32_t i = 0; i < 3; ++i)
                    {
                        NS_TEST_EXPECT_MSG_EQ(s.GetApPosition(i).x, Coordinate(e, t, i),
                                              "AP " << i << " at record " << t);
                        NS_TEST_EXPECT_MSG_EQ(s.GetDevicePosition(i).x,
                                              Coordinate(e, t, i) + 0.5, "device " << i);
                        NS_TEST_EXPECT_MSG_EQ(st.channel[i],
                                              static_cast<int32_t>((t + i + e) % 3),
                                              "channel of " << i << " at record " << t);
                    }
                }
            }
        }
        auto refused = [&](const InxFactoryParams& q, const std::string& expect) {
            InxFactoryScenario s(q);
            try
            {
                s.SetDriveFile(path);
            }
            catch (const std::runtime_error& err)
            {
                return std::string(err.what()).find(expect) != std::string::npos;
            }
            return false;
        };
        NS_TEST_EXPECT_MSG_EQ(refused(Params({"--n_subnetworks=4", "--n_channels=3",
                                              "--episode_steps=4"}),
                                      "holds N=3, D=3 but the parameters give N=4, D=4"),
                              true, "wrong N named");
        NS_TEST_EXPECT_MSG_EQ(refused(Params({"--n_subnetworks=3", "--n_channels=3",
                                              "--episode_steps=9"}),
                                      "episode_steps + 1 = 10 expected"),
                              true, "wrong episode length named");
        NS_TEST_EXPECT_MSG_EQ(refused(Params({"--n_subnetworks=3", "--n_channels=2",
                                              "--episode_steps=4"}),
                                      "is not in [0, 1]"),
                              true, "channel out of range named");
        Write(path, 3, 2, 5, true);
        NS_TEST_EXPECT_MSG_EQ(refused(p, "truncated record"), true, "truncation named");
        std::remove(path.c_str());
    }
};

class FedmarlInxFactoryTestSuite : public TestSuite
{
  public:
    FedmarlInxFactoryTestSuite()
        : TestSuite("fedmarl-inx-factory", Type::SYSTEM)
    {
        AddTestCase(new ParamsTestCase, Duration::QUICK);
        AddTestCase(new ContractTestCase, Duration::QUICK);
        AddTestCase(new EpisodeTestCase, Duration::QUICK);
        AddTestCase(new PoissonFullObsTestCase, Duration::QUICK);
        AddTestCase(new DriveTestCase, Duration::QUICK);
    }
};

/// Static instance: registers the suite with the test runner.
FedmarlInxFactoryTestSuite g_fedmarlInxFactoryTestSuite;

} // namespace

int
main(int argc, char** argv)
{
    return TestRunner::Run(argc, argv);
}
