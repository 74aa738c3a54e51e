/*
 * fedmarl-ns3: tests of what every scenario binary shares: the parameter table (flag parsing
 * with ranges, choices, None and words; the JSON it prints), the array table (shapes from dims,
 * binding a segment, refusing a missing array or a wrong dtype or count, owned stores) and the
 * contract object) and the serve loop (RESET / STEP / CLOSE answered on a real segment in
 * /dev/shm, driven from another thread as Python drives it; errors reported through the
 * segment with their codes and exit statuses).
 * SPDX-License-Identifier: GPL-2.0-only
 *
 * Run: build/bin/fedmarl-ns3-common-test (exit status 0 iff all pass), or with ns-3's
 * test-runner options, e.g. --suite=fedmarl-common --verbose. The real scenario binary is
 * served against Python in tests/ns3/test_ns3_scenario_binary.py.
 */

#include "scenario-arrays.h"
#include "scenario-params.h"
#include "scenario-server.h"

#include "ns3/test.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <future>
#include <limits>
#include <memory>
#include <string>
#include <vector>

using namespace ns3;
using namespace ns3::fedmarl;

namespace
{

/// A toy scenario's parameters: one of each kind.
struct ToyParams
{
    int64_t agents{3};
    std::optional<int64_t> tiles;
    double speed{2.0};
    std::optional<double> height;
    std::string mode{"a"};
    int64_t seed{0};
    std::optional<int64_t> run;
};

const ParamTable<ToyParams>&
ToyParamTable()
{
    static const ParamTable<ToyParams> t = [] {
        ParamTable<ToyParams> t;
        t.Int("agents", &ToyParams::agents, 1, 100, {"agents N", "", "ours"});
        t.IntOrWord("tiles", &ToyParams::tiles, 1, 8, "auto", {"tiles", "", "ours"});
        t.Float("speed", &ToyParams::speed, 0.0, 30.0, true, {"robot speed", "m/s", "ref"});
        t.OptionalFloat("height", &ToyParams::height, 0.5, 30.0, false, {"height", "m", "x"});
        t.Choice("mode", &ToyParams::mode, {"a", "b"}, {"mode \"quoted\"", "", "ours"});
        t.Int("seed", &ToyParams::seed, 0, std::numeric_limits<int64_t>::max(),
              {"seed", "", "ours"});
        t.OptionalInt("run", &ToyParams::run, 0, 1000, {"run", "", "ours"});
        return t;
    }();
    return t;
}

/// A toy scenario's arrays.
struct ToyArrays
{
    std::span<int32_t> actions;
    std::span<float> obs;
    std::span<double> metrics;
    std::span<uint8_t> flags;
};

const ArrayTable<ToyArrays>&
ToyArrayTable()
{
    static const ArrayTable<ToyArrays> t = [] {
        ArrayTable<ToyArrays> t;
        t.Add("actions", &ToyArrays::actions, {"N"}, ArrayDirection::kIn, "in");
        t.Add("obs", &ToyArrays::obs, {"N", "W"}, ArrayDirection::kOut, "out");
        t.Add("metrics", &ToyArrays::metrics, {16}, ArrayDirection::kOut, "m");
        t.Add("flags", &ToyArrays::flags, {"N", 2}, ArrayDirection::kOut, "f");
        return t;
    }();
    return t;
}

/// @return the ParamError message of parsing `flag`, or "" when it parses
std::string
ParseError(const std::string& flag)
{
    ToyParams p;
    try
    {
        ToyParamTable().Parse({flag}, p);
    }
    catch (const ParamError& e)
    {
        return e.what();
    }
    return "";
}

/// @return true when `text` contains `part`
bool
Has(const std::string& text, const std::string& part)
{
    return text.find(part) != std::string::npos;
}

/// Flag parsing: values, ranges, choices, None, words, unknown flags.
class ParamParsingTestCase : public TestCase
{
  public:
    ParamParsingTestCase()
        : TestCase("parameter flags: values, ranges (open and closed), choices, None, words")
    {
    }

  private:
    void DoRun() override
    {
        ToyParams p;
        ToyParamTable().Parse({"--agents=1e1", "--tiles=4", "--speed=30", "--height=2.5",
                               "--mode=b", "--seed=9223372036854775807"},
                              p);
        NS_TEST_EXPECT_MSG_EQ(p.agents, 10, "an integer written as a float");
        NS_TEST_EXPECT_MSG_EQ(p.tiles.value_or(-1), 4, "an integer beside a word");
        NS_TEST_EXPECT_MSG_EQ(p.speed, 30.0, "closed high bound");
        NS_TEST_EXPECT_MSG_EQ(p.height.value_or(-1), 2.5, "optional float");
        NS_TEST_EXPECT_MSG_EQ(p.mode, "b", "choice");
        NS_TEST_EXPECT_MSG_EQ(p.seed, std::numeric_limits<int64_t>::max(), "exact 2^63 - 1");
        ToyParamTable().Parse({"--tiles=auto", "--height=None"}, p);
        NS_TEST_EXPECT_MSG_EQ(p.tiles.has_value(), false, "the word selects nullopt");
        NS_TEST_EXPECT_MSG_EQ(p.height.has_value(), false, "None selects nullopt");
        ToyParamTable().Parse({"--run=7"}, p);
        NS_TEST_EXPECT_MSG_EQ(p.run.value_or(-1), 7, "optional integer");
        ToyParamTable().Parse({"--run=none"}, p);
        NS_TEST_EXPECT_MSG_EQ(p.run.has_value(), false, "None selects nullopt");
        NS_TEST_EXPECT_MSG_EQ(Has(ParseError("--run=1001"), "out of range [0, 1000]"), true, "");

        NS_TEST_EXPECT_MSG_EQ(Has(ParseError("--agents=0"), "--agents=0 is out of range [1, 100]"),
                              true,
                              ParseError("--agents=0"));
        NS_TEST_EXPECT_MSG_EQ(Has(ParseError("--agents=2.5"), "must be an integer in [1, 100]"),
                              true,
                              ParseError("--agents=2.5"));
        NS_TEST_EXPECT_MSG_EQ(Has(ParseError("--tiles=x"), "must be auto or an integer in [1, 8]"),
                              true,
                              ParseError("--tiles=x"));
        NS_TEST_EXPECT_MSG_EQ(Has(ParseError("--speed=0"), "is out of range (0, 30] m/s"),
                              true,
                              "open low bound refuses the bound itself");
        NS_TEST_EXPECT_MSG_EQ(ParseError("--speed=1e-300"), "", "just above an open bound");
        NS_TEST_EXPECT_MSG_EQ(Has(ParseError("--speed=nan"), "is NaN"), true, "NaN");
        NS_TEST_EXPECT_MSG_EQ(Has(ParseError("--speed=fast"), "must be a number in (0, 30] m/s"),
                              true,
                              ParseError("--speed=fast"));
        NS_TEST_EXPECT_MSG_EQ(Has(ParseError("--height=0.4"), "out of range [0.5, 30] m"),
                              true,
                              ParseError("--height=0.4"));
        NS_TEST_EXPECT_MSG_EQ(Has(ParseError("--height=x"), "or None for the derived default"),
                              true,
                              ParseError("--height=x"));
        NS_TEST_EXPECT_MSG_EQ(Has(ParseError("--mode=c"), "--mode=c must be one of a, b"),
                              true,
                              ParseError("--mode=c"));
        NS_TEST_EXPECT_MSG_EQ(Has(ParseError("--bogus=1"), "unknown flag --bogus"), true, "");
        NS_TEST_EXPECT_MSG_EQ(Has(ParseError("--agents"), "--agents needs a value"), true, "");
        NS_TEST_EXPECT_MSG_EQ(Has(ParseError("agents=3"), "unexpected argument 'agents=3'"),
                              true,
                              "");
        NS_TEST_EXPECT_MSG_EQ(Has(ParseError("--seed=9.3e18"), "must be an integer"),
                              true,
                              "beyond int64 as a float");
    }
};

/// What --contract-json and --params-json print about parameters.
class ParamJsonTestCase : public TestCase
{
  public:
    ParamJsonTestCase()
        : TestCase("parameter JSON: types, defaults (null, words), exact ranges, choices, docs")
    {
    }

  private:
    void DoRun() override
    {
        const std::string c = ToyParamTable().ContractJson();
        NS_TEST_EXPECT_MSG_EQ(Has(c,
                                  "{\"name\": \"agents\", \"type\": \"int\", \"default\": 3, "
                                  "\"low\": 1, \"high\": 100, \"low_open\": false, "
                                  "\"choices\": null, \"unit\": \"\", \"doc\": \"agents N\", "
                                  "\"source\": \"ours\"}"),
                              true,
                              c);
        NS_TEST_EXPECT_MSG_EQ(Has(c,
                                  "\"name\": \"tiles\", \"type\": \"int\", \"default\": \"auto\", "
                                  "\"low\": 1, \"high\": 8, \"low_open\": false, "
                                  "\"choices\": [\"auto\"]"),
                              true,
                              c);
        NS_TEST_EXPECT_MSG_EQ(Has(c,
                                  "\"name\": \"speed\", \"type\": \"float\", \"default\": 2.0, "
                                  "\"low\": 0.0, \"high\": 30.0, \"low_open\": true"),
                              true,
                              c);
        NS_TEST_EXPECT_MSG_EQ(Has(c,
                                  "\"name\": \"height\", \"type\": \"float\", "
                                  "\"default\": null"),
                              true,
                              c);
        NS_TEST_EXPECT_MSG_EQ(Has(c,
                                  "\"name\": \"mode\", \"type\": \"str\", \"default\": \"a\", "
                                  "\"low\": null, \"high\": null, \"low_open\": false, "
                                  "\"choices\": [\"a\", \"b\"], \"unit\": \"\", "
                                  "\"doc\": \"mode \\\"quoted\\\"\""),
                              true,
                              c);
        NS_TEST_EXPECT_MSG_EQ(Has(c, "\"high\": 9223372036854775807"), true, "exact int64 high");
        NS_TEST_EXPECT_MSG_EQ(Has(c,
                                  "\"name\": \"run\", \"type\": \"int\", \"default\": null, "
                                  "\"low\": 0, \"high\": 1000"),
                              true,
                              c);
        NS_TEST_EXPECT_MSG_EQ(ToyParamTable().DefaultsJson(),
                              "{\"agents\": 3, \"tiles\": \"auto\", \"speed\": 2.0, "
                              "\"height\": null, \"mode\": \"a\", \"seed\": 0, "
                              "\"run\": null}",
                              "--params-json");
        NS_TEST_EXPECT_MSG_EQ(JsonDouble(1e-5), "1e-05", "shortest round trip");
        NS_TEST_EXPECT_MSG_EQ(JsonDouble(10e6), "1e+07", "");
        NS_TEST_EXPECT_MSG_EQ(JsonDouble(-10.0), "-10.0", "floats stay floats");
        NS_TEST_EXPECT_MSG_EQ(JsonString("a\nb\\"), "\"a\\nb\\\\\"", "escapes");
        const std::string help = ToyParamTable().Help();
        NS_TEST_EXPECT_MSG_EQ(Has(help, "--tiles=auto"), true, help);
        NS_TEST_EXPECT_MSG_EQ(Has(help, "valid: auto | [1, 8]"), true, help);
        NS_TEST_EXPECT_MSG_EQ(Has(help, "--height=None"), true, help);
        NS_TEST_EXPECT_MSG_EQ(Has(help, "valid: [0.5, 30] or None m"), true, help);
    }
};

/// A segment made in this process (the owner's side of shm_layout.h), for binding tests.
class LocalSegment
{
  public:
    explicit LocalSegment(const std::vector<shm::ArraySpec>& specs)
    {
        const shm::Plan plan = shm::PlanLayout(specs);
        // Room for the segment plus a shift to the next 64-byte boundary (vector storage is
        // only 8-byte aligned); never resized afterwards, so `base` stays valid.
        m_words.assign(plan.total_size / 8 + 16, 0);
        auto* base = reinterpret_cast<std::byte*>(m_words.data());
        const auto mis = reinterpret_cast<uintptr_t>(base) % shm::kArrayAlign;
        base += mis ? shm::kArrayAlign - mis : 0;
        m_h = shm::InitHeader(base, plan.total_size, plan, 1);
    }

    shm::Header* Header() const
    {
        return m_h;
    }

  private:
    std::vector<uint64_t> m_words;
    shm::Header* m_h{nullptr};
};

/// @return the LayoutError message of binding the toy table to `specs` with N = 3, W = 2
std::string
BindError(const std::vector<shm::ArraySpec>& specs)
{
    LocalSegment seg(specs);
    try
    {
        ToyArrayTable().Bind(seg.Header(), {{"N", 3}, {"W", 2}});
    }
    catch (const shm::LayoutError& e)
    {
        return e.what();
    }
    return "";
}

/// The array table: counts from dims, binding, refusals, stores, JSON.
class ArrayTableTestCase : public TestCase
{
  public:
    ArrayTableTestCase()
        : TestCase("array table: counts from dims; a segment binds, or is refused naming the "
                   "missing array or the wrong dtype or count; stores; contract JSON")
    {
    }

  private:
    void DoRun() override
    {
        using shm::DType;
        auto code = [](DType d) { return static_cast<uint32_t>(d); };
        const std::vector<shm::ArraySpec> good = {{"actions", code(DType::i32), 3},
                                                  {"obs", code(DType::f32), 6},
                                                  {"metrics", code(DType::f64), 16},
                                                  {"flags", code(DType::u8), 6},
                                                  {"extra", code(DType::f32), 1}};
        {
            LocalSegment seg(good);
            const ToyArrays v = ToyArrayTable().Bind(seg.Header(), {{"N", 3}, {"W", 2}});
            NS_TEST_EXPECT_MSG_EQ(v.obs.size(), 6u, "N * W");
            NS_TEST_EXPECT_MSG_EQ(v.flags.size(), 6u, "N * 2");
            NS_TEST_EXPECT_MSG_EQ(v.metrics.size(), 16u, "fixed size");
            const auto* base = reinterpret_cast<const std::byte*>(seg.Header());
            const auto* obs = shm::FindArray(seg.Header(), "obs");
            NS_TEST_EXPECT_MSG_EQ(reinterpret_cast<const std::byte*>(v.obs.data()) - base,
                                  static_cast<std::ptrdiff_t>(obs->offset),
                                  "the view points at the segment's array");
        }
        std::vector<shm::ArraySpec> missing = good;
        missing.erase(missing.begin() + 1);
        NS_TEST_EXPECT_MSG_EQ(Has(BindError(missing), "array 'obs' is not in the segment"),
                              true,
                              BindError(missing));
        std::vector<shm::ArraySpec> count = good;
        count[1].count = 5;
        NS_TEST_EXPECT_MSG_EQ(Has(BindError(count), "'obs' has 5 elements but this peer "
                                                    "expects 6"),
                              true,
                              BindError(count));
        std::vector<shm::ArraySpec> dtype = good;
        dtype[0].dtype = code(DType::f32);
        NS_TEST_EXPECT_MSG_EQ(Has(BindError(dtype), "'actions' has dtype f32"),
                              true,
                              BindError(dtype));

        ArrayStore<ToyArrays> store(ToyArrayTable(), {{"N", 4}, {"W", 3}});
        NS_TEST_EXPECT_MSG_EQ(store.obs.size(), 12u, "store sized from dims");
        NS_TEST_EXPECT_MSG_EQ(store.actions.size(), 4u, "");
        NS_TEST_EXPECT_MSG_EQ(reinterpret_cast<uintptr_t>(store.metrics.data()) % 8, 0u,
                              "aligned for doubles");
        NS_TEST_EXPECT_MSG_EQ(store.metrics[15], 0.0, "zero-initialised");
        store.obs[11] = 1.0f; // inside the buffer

        bool threw = false;
        try
        {
            ArrayStore<ToyArrays> bad(ToyArrayTable(), {{"N", 4}});
        }
        catch (const std::out_of_range& e)
        {
            threw = Has(e.what(), "W");
        }
        NS_TEST_EXPECT_MSG_EQ(threw, true, "a dim without a value is named");

        const std::string j = ToyArrayTable().ContractJson();
        NS_TEST_EXPECT_MSG_EQ(Has(j,
                                  "{\"name\": \"obs\", \"dtype\": \"f32\", \"shape\": [\"N\", "
                                  "\"W\"], \"direction\": \"out\", \"doc\": \"out\"}"),
                              true,
                              j);
        NS_TEST_EXPECT_MSG_EQ(Has(j, "\"shape\": [\"N\", 2]"), true, j);
        NS_TEST_EXPECT_MSG_EQ(Has(j, "\"name\": \"actions\", \"dtype\": \"i32\", \"shape\": "
                                     "[\"N\"], \"direction\": \"in\""),
                              true,
                              j);
        NS_TEST_EXPECT_MSG_EQ(Has(j, "\"dtype\": \"u8\""), true, j);
    }
};

/// The whole contract object and the server's parsing of parameters with checks.
class ContractTestCase : public TestCase
{
  public:
    ContractTestCase()
        : TestCase("contract object: version, names, layout version, dims, constants; checks")
    {
    }

  private:
    void DoRun() override
    {
        ScenarioIdentity id;
        id.scenario = "toy";
        id.binary = "fedmarl-toy";
        id.summary = "a toy";
        id.dims = {{"N", "agents"}, {"W", "width"}};
        id.constants = {{"bins", "64"}};
        ScenarioServer<ToyParams, ToyArrays> server(id,
                                                    ToyParamTable(),
                                                    ToyArrayTable(),
                                                    [](const ToyParams& p) {
                                                        return Dims{{"N", uint64_t(p.agents)},
                                                                    {"W", 2}};
                                                    });
        server.Check([](const ToyParams& p) {
            if (p.mode == "b" && p.agents > 50)
            {
                throw ParamError("--mode=b needs --agents <= 50");
            }
        });
        const std::string c = server.ContractJson();
        NS_TEST_EXPECT_MSG_EQ(c.starts_with("{\"contract_version\": 1, \"scenario\": \"toy\", "
                                            "\"binary\": \"fedmarl-toy\", \"layout_version\": " +
                                            std::to_string(shm::kLayoutVersion) +
                                            ", \"params\": ["),
                              true,
                              c);
        NS_TEST_EXPECT_MSG_EQ(Has(c, "\"dims\": {\"N\": \"agents\", \"W\": \"width\"}, "
                                     "\"constants\": {\"bins\": 64}}"),
                              true,
                              c);
        NS_TEST_EXPECT_MSG_EQ(server.ParseParams({"--agents=60"}).agents, 60, "");
        bool threw = false;
        try
        {
            server.ParseParams({"--agents=60", "--mode=b"});
        }
        catch (const ParamError& e)
        {
            threw = Has(e.what(), "--mode=b needs");
        }
        NS_TEST_EXPECT_MSG_EQ(threw, true, "checks run after parsing");
        NS_TEST_EXPECT_MSG_EQ(server.DimsOf(server.ParseParams({"--agents=7"})).at("N"), 7u, "");
        const std::string help = server.Help();
        NS_TEST_EXPECT_MSG_EQ(Has(help, "usage: fedmarl-toy --segment=NAME"), true, help);
        NS_TEST_EXPECT_MSG_EQ(Has(help, "--contract-json"), true, help);
    }
};

/// A toy scenario served on ToyArrays: RESET writes the run, STEP doubles the actions.
class ToyServed : public ServedScenario
{
  public:
    explicit ToyServed(const ToyArrays& v)
        : m_v(v)
    {
    }

    void Reset(uint64_t run) override
    {
        std::fill(m_v.obs.begin(), m_v.obs.end(), static_cast<float>(run));
        m_v.metrics[0] = static_cast<double>(run);
    }

    void Step() override
    {
        if (m_v.actions[0] < 0)
        {
            throw std::invalid_argument("action of agent 0 is negative");
        }
        for (size_t i = 0; i < m_v.actions.size(); ++i)
        {
            m_v.obs[2 * i] = 2.0f * static_cast<float>(m_v.actions[i]);
        }
        m_v.metrics[1] += 1.0;
    }

    void Close() override
    {
        m_v.flags[0] = 1;
    }

  private:
    ToyArrays m_v;
};

/// The owner's side of a segment in /dev/shm (what pybridge.bridge does), unlinked at the end.
class OwnedSegment
{
  public:
    OwnedSegment(const std::string& name, const std::vector<shm::ArraySpec>& specs)
        : m_path(std::string(shm::kShmDir) + name)
    {
        const shm::Plan plan = shm::PlanLayout(specs);
        m_size = plan.total_size;
        const int fd = ::open(m_path.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
        if (fd < 0 || ::ftruncate(fd, static_cast<off_t>(m_size)) != 0)
        {
            throw std::runtime_error("cannot create " + m_path);
        }
        void* p = ::mmap(nullptr, m_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
        ::close(fd);
        if (p == MAP_FAILED)
        {
            ::unlink(m_path.c_str());
            throw std::runtime_error("cannot map " + m_path);
        }
        m_h = shm::InitHeader(p, m_size, plan, static_cast<int32_t>(::getpid()));
    }

    ~OwnedSegment()
    {
        ::munmap(m_h, m_size);
        ::unlink(m_path.c_str());
    }

    shm::Header* Header() const
    {
        return m_h;
    }

    /// Post request `seq` and wait for its answer (false: the peer reported an error first).
    bool Request(uint32_t seq, shm::Command command, uint64_t arg = 0)
    {
        m_h->command = static_cast<uint32_t>(command);
        m_h->command_arg = arg;
        shm::Publish(m_h->request_seq, m_h->request_waiters, seq);
        const auto status = shm::WaitOn(
            m_h->response_seq,
            &m_h->response_waiters,
            [seq](uint32_t v) { return v == seq; },
            [this] { return State() == shm::PeerState::kError; },
            10'000,
            5'000'000'000LL);
        return status == shm::WaitStatus::kDone;
    }

    /// Wait until the peer has said hello (or failed).
    shm::PeerState WaitHello()
    {
        for (int i = 0; i < 5000 && State() == shm::PeerState::kCreated; ++i)
        {
            ::usleep(1000);
        }
        return State();
    }

    shm::PeerState State() const
    {
        return static_cast<shm::PeerState>(m_h->peer_state.load(std::memory_order_seq_cst));
    }

    template <class T>
    std::span<T> Array(const char* name) const
    {
        return shm::ArraySpan<T>(m_h, name);
    }

  private:
    std::string m_path;
    size_t m_size{0};
    shm::Header* m_h{nullptr};
};

/// The good array list of the toy table at N = 3, W = 2.
std::vector<shm::ArraySpec>
ToySpecs()
{
    using shm::DType;
    auto code = [](DType d) { return static_cast<uint32_t>(d); };
    return {{"actions", code(DType::i32), 3},
            {"obs", code(DType::f32), 6},
            {"metrics", code(DType::f64), 16},
            {"flags", code(DType::u8), 6}};
}

/// Serve the toy scenario on segment `name` in another thread; the future holds the status.
std::future<int>
ServeToy(const std::string& name)
{
    return std::async(std::launch::async, [name] {
        shm::PeerSegment seg(name);
        const ToyArrays v = ToyArrayTable().Bind(seg.header(), {{"N", 3}, {"W", 2}});
        ToyServed toy(v);
        seg.Hello();
        ProcessFlags flags;
        flags.spinUs = 10;
        return ServeRequests("fedmarl-toy", seg, toy, flags);
    });
}

/// The serve loop on a real segment: requests, answers, errors and exit statuses.
class ServeLoopTestCase : public TestCase
{
  public:
    ServeLoopTestCase()
        : TestCase("serve loop: RESET, STEP and CLOSE answered on a segment; an unknown command "
                   "and a failing step reported with their codes and statuses")
    {
    }

  private:
    std::string Name(const char* what) const
    {
        return "fedmarl-" + std::to_string(::getpid()) + "-commontest-" + what;
    }

    void DoRun() override
    {
        {
            OwnedSegment owner(Name("ok"), ToySpecs());
            auto served = ServeToy(Name("ok"));
            NS_TEST_ASSERT_MSG_EQ((owner.WaitHello() == shm::PeerState::kHello), true, "hello");
            NS_TEST_EXPECT_MSG_EQ(owner.Request(1, shm::Command::kReset, 42), true, "RESET");
            const auto obs = owner.Array<float>("obs");
            const auto metrics = owner.Array<double>("metrics");
            NS_TEST_EXPECT_MSG_EQ(obs[5], 42.0f, "RESET wrote the run");
            const auto actions = owner.Array<int32_t>("actions");
            actions[0] = 1;
            actions[1] = 2;
            actions[2] = 3;
            NS_TEST_EXPECT_MSG_EQ(owner.Request(2, shm::Command::kStep), true, "STEP");
            NS_TEST_EXPECT_MSG_EQ(obs[4], 6.0f, "STEP read the actions, wrote the outputs");
            NS_TEST_EXPECT_MSG_EQ(owner.Header()->step_counter.load(), 1u, "one STEP served");
            NS_TEST_EXPECT_MSG_EQ(owner.Request(3, shm::Command::kStep), true, "STEP");
            NS_TEST_EXPECT_MSG_EQ(metrics[1], 2.0, "two steps");
            NS_TEST_EXPECT_MSG_EQ(owner.Header()->step_counter.load(), 2u, "two STEPs served");
            NS_TEST_EXPECT_MSG_EQ(owner.Request(4, shm::Command::kClose), true, "CLOSE");
            NS_TEST_EXPECT_MSG_EQ(served.get(), 0, "exit status after CLOSE");
            NS_TEST_EXPECT_MSG_EQ((owner.State() == shm::PeerState::kClosed), true, "closed");
            NS_TEST_EXPECT_MSG_EQ(owner.Array<uint8_t>("flags")[0], 1, "Close() ran");
        }
        {
            OwnedSegment owner(Name("cmd"), ToySpecs());
            auto served = ServeToy(Name("cmd"));
            owner.WaitHello();
            NS_TEST_EXPECT_MSG_EQ(owner.Request(1, static_cast<shm::Command>(9)), false, "");
            NS_TEST_EXPECT_MSG_EQ(served.get(), 5, "exit status of an unknown command");
            NS_TEST_EXPECT_MSG_EQ(owner.Header()->error_code,
                                  static_cast<uint32_t>(shm::ErrorCode::kCommand),
                                  "kCommand");
            NS_TEST_EXPECT_MSG_EQ(std::string(owner.Header()->error_message),
                                  "unknown command 9",
                                  "message through the segment");
        }
        {
            OwnedSegment owner(Name("sim"), ToySpecs());
            auto served = ServeToy(Name("sim"));
            owner.WaitHello();
            owner.Array<int32_t>("actions")[0] = -1;
            NS_TEST_EXPECT_MSG_EQ(owner.Request(1, shm::Command::kStep), false, "");
            NS_TEST_EXPECT_MSG_EQ(served.get(), 1, "exit status of a failed step");
            NS_TEST_EXPECT_MSG_EQ(owner.Header()->error_code,
                                  static_cast<uint32_t>(shm::ErrorCode::kSimulation),
                                  "kSimulation");
            NS_TEST_EXPECT_MSG_EQ(std::string(owner.Header()->error_message),
                                  "action of agent 0 is negative",
                                  "the exception's message");
            NS_TEST_EXPECT_MSG_EQ(owner.Header()->step_counter.load(), 0u, "not counted");
        }
    }
};

/// The tests of ns3-scenarios/common/.
class FedmarlCommonTestSuite : public TestSuite
{
  public:
    FedmarlCommonTestSuite()
        : TestSuite("fedmarl-common", Type::UNIT)
    {
        AddTestCase(new ParamParsingTestCase, Duration::QUICK);
        AddTestCase(new ParamJsonTestCase, Duration::QUICK);
        AddTestCase(new ArrayTableTestCase, Duration::QUICK);
        AddTestCase(new ContractTestCase, Duration::QUICK);
        AddTestCase(new ServeLoopTestCase, Duration::QUICK);
    }
};

/// Static instance: registers the suite with the test runner.
FedmarlCommonTestSuite g_fedmarlCommonTestSuite;

} // namespace

int
main(int argc, char** argv)
{
    return TestRunner::Run(argc, argv);
}
