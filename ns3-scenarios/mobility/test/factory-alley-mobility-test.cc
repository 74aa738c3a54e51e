/*
 * SPDX-License-Identifier: GPL-2.0-only
 *
 * fedmarl-ns3-mobility-test: invariants of the factory alley mobility (layout facts, lane graph
 * continuity, separation and speed under random traffic, the yielding rules in hand-built
 * scenarios, the ns-3 scheduling and MobilityModel interface), as the ns-3 test suite
 * "fedmarl-mobility" with one test case per invariant group. Run it alone (exit status 0 iff
 * all pass) or with ns-3's test-runner options, e.g. --suite=fedmarl-mobility --verbose.
 * The C++ port mirrors tests/unit/test_mobility.py; tests/ns3/test_ns3_mobility.py runs this and also
 * compares layouts and trajectories with the Python model.
 */

#include "factory-alley-mobility.h"

#include "ns3/double.h"
#include "ns3/node-container.h"
#include "ns3/node.h"
#include "ns3/rng-seed-manager.h"
#include "ns3/simulator.h"
#include "ns3/test.h"
#include "ns3/uinteger.h"

#include <algorithm>
#include <cmath>
#include <functional>
#include <iostream>
#include <set>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

using namespace ns3;
using fedmarl::FactoryAlleyLayout;
using fedmarl::PieceKind;
using fedmarl::PlacementSlot;

namespace
{

constexpr double D_MIN = 1.0;
constexpr double SPEED = 3.0;

/**
 * One group of invariants. The checks are free functions shared by many groups (RunAndCheck
 * and friends), so they report through the running case (g_current) rather than through
 * `this` as the NS_TEST_* macros do; each failure still names its file and line.
 */
class MobilityTestCase : public TestCase
{
  public:
    /// @param name the case's name @param body the checks
    MobilityTestCase(std::string name, std::function<void()> body)
        : TestCase(name),
          m_body(std::move(body))
    {
    }

    /// Record a failed check (the EXPECT / REQUIRE macros below).
    void Fail(const std::string& cond,
              const std::string& message,
              const std::string& file,
              int32_t line)
    {
        ReportTestFailure(cond, "false", "true", message, file, line);
    }

  private:
    void DoRun() override;

    std::function<void()> m_body; //!< the checks
};

MobilityTestCase* g_current = nullptr; //!< the case whose checks run now

void
MobilityTestCase::DoRun()
{
    g_current = this;
    try
    {
        m_body();
    }
    catch (const std::exception& e)
    {
        Fail("no exception", std::string("exception: ") + e.what(), __FILE__, __LINE__);
    }
    g_current = nullptr;
    Simulator::Destroy();
}

/// Record a failed expectation with its location; the test goes on.
#define EXPECT(cond)                                                                               \
    do                                                                                             \
    {                                                                                              \
        if (!(cond))                                                                               \
        {                                                                                          \
            g_current->Fail(#cond, "", __FILE__, __LINE__);                                        \
        }                                                                                          \
    } while (false)

/// Like EXPECT, with extra context in the message; returns {} from the enclosing function when
/// `cond` fails, so one broken invariant does not flood the output.
#define REQUIRE(cond, what)                                                                        \
    do                                                                                             \
    {                                                                                              \
        if (!(cond))                                                                               \
        {                                                                                          \
            std::ostringstream what_;                                                              \
            what_ << what;                                                                         \
            g_current->Fail(#cond, what_.str(), __FILE__, __LINE__);                               \
            return {};                                                                             \
        }                                                                                          \
    } while (false)

bool
Near(double a, double b, double tol = 1e-9)
{
    return std::abs(a - b) <= tol;
}

double
Dist(const Vector2D& a, const Vector2D& b)
{
    return std::hypot(a.x - b.x, a.y - b.y);
}

/// Distance of a point to the nearest alley centreline segment.
double
DistToCentrelines(const FactoryAlleyLayout& lay, const Vector2D& p)
{
    double best = INFINITY;
    for (const auto& [a, b] : lay.centrelines)
    {
        const double abx = b.x - a.x;
        const double aby = b.y - a.y;
        const double t = std::clamp(((p.x - a.x) * abx + (p.y - a.y) * aby) /
                                        (abx * abx + aby * aby),
                                    0.0,
                                    1.0);
        best = std::min(best, std::hypot(p.x - (a.x + t * abx), p.y - (a.y + t * aby)));
    }
    return best;
}

uint32_t
NodeIndex(const FactoryAlleyLayout& lay, Vector2D xy)
{
    for (uint32_t k = 0; k < lay.GetNNodes(); ++k)
    {
        if (Near(lay.nodes[k].x, xy.x) && Near(lay.nodes[k].y, xy.y))
        {
            return k;
        }
    }
    throw std::runtime_error("no node there");
}

/// The lane piece that drives in `dir` into the node at `xy`.
uint32_t
LaneInto(const FactoryAlleyLayout& lay, Vector2D xy, Vector2D dir)
{
    const uint32_t node = NodeIndex(lay, xy);
    for (uint32_t p = 0; p < lay.GetNPieces(); ++p)
    {
        if (lay.pieceKind[p] == PieceKind::LANE && lay.pieceNode[p] == node &&
            Near(lay.pieceDir[p].x, dir.x) && Near(lay.pieceDir[p].y, dir.y))
        {
            return p;
        }
    }
    throw std::runtime_error("no such lane");
}

/// The successor of `piece` that leaves in direction `dir`.
uint32_t
SuccessorTowards(const FactoryAlleyLayout& lay, uint32_t piece, Vector2D dir)
{
    for (uint32_t c : lay.successors[piece])
    {
        if (Near(lay.pieceDir[c].x, dir.x) && Near(lay.pieceDir[c].y, dir.y))
        {
            return c;
        }
    }
    throw std::runtime_error("no such successor");
}

/// A manager with `n` robots on fresh nodes, randomly placed from `stream`.
Ptr<FactoryAlleyMobilityManager>
MakeManager(uint32_t n,
            int64_t stream,
            uint32_t tilesX = 1,
            uint32_t tilesY = 1,
            double speed = SPEED,
            double interval = 0.0)
{
    auto mgr = CreateObject<FactoryAlleyMobilityManager>();
    mgr->SetAttribute("TilesX", UintegerValue(tilesX));
    mgr->SetAttribute("TilesY", UintegerValue(tilesY));
    mgr->SetAttribute("Speed", DoubleValue(speed));
    mgr->SetAttribute("MinSeparation", DoubleValue(D_MIN));
    mgr->SetAttribute("UpdateInterval", TimeValue(Seconds(interval)));
    mgr->AssignStreams(stream);
    NodeContainer nodes;
    nodes.Create(n);
    mgr->Install(nodes);
    return mgr;
}

/// A manager with hand-placed robots (no automatic stepping).
Ptr<FactoryAlleyMobilityManager>
MakePlaced(const std::vector<PlacementSlot>& placement)
{
    auto mgr = CreateObject<FactoryAlleyMobilityManager>();
    mgr->SetAttribute("UpdateInterval", TimeValue(Time(0)));
    mgr->AssignStreams(0);
    NodeContainer nodes;
    nodes.Create(placement.size());
    mgr->Install(nodes, placement);
    return mgr;
}

double
MinPairDistance(const FactoryAlleyMobilityManager& mgr)
{
    double best = INFINITY;
    for (uint32_t i = 0; i < mgr.GetNRobots(); ++i)
    {
        for (uint32_t j = i + 1; j < mgr.GetNRobots(); ++j)
        {
            best = std::min(best, Dist(mgr.GetPosition2d(i), mgr.GetPosition2d(j)));
        }
    }
    return best;
}

/// Step `steps` times checking every per-step invariant; returns the distance each robot
/// travelled (empty after a failure).
std::vector<double>
RunAndCheck(FactoryAlleyMobilityManager& mgr, double dt, uint32_t steps, double speed = SPEED)
{
    const auto& lay = mgr.GetLayout();
    const uint32_t n = mgr.GetNRobots();
    const double margin = 1.0;
    std::vector<double> travelled(n, 0.0);
    for (uint32_t s = 0; s < steps; ++s)
    {
        std::vector<Vector2D> before(n);
        for (uint32_t i = 0; i < n; ++i)
        {
            before[i] = mgr.GetPosition2d(i);
        }
        const std::vector<double> moved = mgr.Step(dt);
        for (uint32_t i = 0; i < n; ++i)
        {
            const Vector2D p = mgr.GetPosition2d(i);
            REQUIRE(moved[i] >= 0.0 && moved[i] <= speed * dt + 1e-9,
                    "step " << s << " robot " << i << " moved " << moved[i]);
            // A chord is never longer than the path along the lanes.
            REQUIRE(Dist(p, before[i]) <= moved[i] + 1e-9, "step " << s << " robot " << i);
            REQUIRE(p.x >= margin && p.x <= lay.hallLength - margin && p.y >= margin &&
                        p.y <= lay.hallWidth - margin,
                    "step " << s << " robot " << i << " at " << p);
            REQUIRE(DistToCentrelines(lay, p) <= lay.alleyWidth / 2 + 1e-9,
                    "step " << s << " robot " << i << " off the alleys at " << p);
            const Vector2D h = mgr.GetHeading(i);
            REQUIRE(Near(std::hypot(h.x, h.y), 1.0), "heading " << h);
            travelled[i] += moved[i];
        }
        const double closest = MinPairDistance(mgr);
        REQUIRE(closest >= D_MIN - 1e-9, "step " << s << " closest pair " << closest);
    }
    return travelled;
}

double
Mean(const std::vector<double>& v)
{
    double s = 0.0;
    for (double x : v)
    {
        s += x;
    }
    return v.empty() ? 0.0 : s / v.size();
}

// ------------------------------------------------------------------------------------- layout

void
TestSingleTile()
{
    const auto lay = fedmarl::BuildFactoryAlleyLayout(1, 1);
    EXPECT(lay.hallLength == 180.0 && lay.hallWidth == 80.0);
    EXPECT(lay.alleyWidth == 5.0 && lay.laneOffset == 1.25);
    EXPECT(Near(lay.GetCentrelineLength(), 340.0));
    std::vector<uint32_t> degree(lay.nodeDegree);
    std::sort(degree.begin(), degree.end());
    EXPECT((degree == std::vector<uint32_t>{1, 1, 1, 1, 1, 1, 4, 4})); // 6 dead ends, 2 crossings
    // Right turn 0, straight 2.5, left 2.5 sqrt(2), U-turn 2.5 (sideways).
    std::set<long long> lengths;
    for (uint32_t p = 0; p < lay.GetNPieces(); ++p)
    {
        if (lay.pieceKind[p] == PieceKind::CONNECTOR)
        {
            lengths.insert(std::llround(lay.pieceLength[p] * 1e6));
        }
    }
    EXPECT((lengths ==
            std::set<long long>{0, 2500000, std::llround(2.5 * std::sqrt(2.0) * 1e6)}));
}

void
TestTiles()
{
    const auto lay = fedmarl::BuildFactoryAlleyLayout(2, 2);
    EXPECT(lay.hallLength == 360.0 && lay.hallWidth == 160.0);
    EXPECT(Near(lay.GetCentrelineLength(), 4 * 340.0));
    uint32_t crossings = 0;
    for (uint32_t k = 0; k < lay.GetNNodes(); ++k)
    {
        EXPECT(lay.nodeDegree[k] == 1 || lay.nodeDegree[k] == 4);
        crossings += lay.nodeDegree[k] == 4;
        if (lay.nodeDegree[k] == 1)
        {
            const auto& p = lay.nodes[k];
            const double wall = std::min(
                {p.x, lay.hallLength - p.x, p.y, lay.hallWidth - p.y});
            EXPECT(Near(wall, 2.5));
        }
    }
    EXPECT(crossings == 2 * 4); // 2 crossings per tile
    bool threw = false;
    try
    {
        fedmarl::BuildFactoryAlleyLayout(0, 1);
    }
    catch (const std::invalid_argument&)
    {
        threw = true;
    }
    EXPECT(threw);
}

void
TestLaneGraphContinuity()
{
    for (auto [tx, ty] : {std::pair{1U, 1U}, std::pair{2U, 2U}, std::pair{3U, 1U}})
    {
        const auto lay = fedmarl::BuildFactoryAlleyLayout(tx, ty);
        for (uint32_t p = 0; p < lay.GetNPieces(); ++p)
        {
            const auto& succ = lay.successors[p];
            EXPECT(!succ.empty());
            for (uint32_t s : succ)
            {
                EXPECT(s < lay.GetNPieces());
                EXPECT(Near(lay.pieceStart[s].x, lay.pieceEnd[p].x) &&
                       Near(lay.pieceStart[s].y, lay.pieceEnd[p].y));
            }
            if (lay.pieceKind[p] == PieceKind::CONNECTOR)
            {
                EXPECT(succ.size() == 1 && lay.pieceKind[succ[0]] == PieceKind::LANE);
                const auto& out = lay.pieceDir[succ[0]];
                const auto& in = lay.pieceDir[lay.pieceApproach[p]];
                if (Near(out.x, -in.x) && Near(out.y, -in.y)) // U-turns only at dead ends
                {
                    EXPECT(lay.nodeDegree[lay.pieceNode[p]] == 1);
                }
            }
            else
            {
                for (uint32_t s : succ)
                {
                    EXPECT(lay.pieceKind[s] == PieceKind::CONNECTOR);
                }
                EXPECT(succ.size() == (lay.nodeDegree[lay.pieceNode[p]] == 4 ? 3U : 1U));
            }
            for (const auto& e : {lay.pieceStart[p], lay.pieceEnd[p]})
            {
                EXPECT(e.x > 0 && e.x < lay.hallLength && e.y > 0 && e.y < lay.hallWidth);
            }
            EXPECT(Near(std::hypot(lay.pieceDir[p].x, lay.pieceDir[p].y), 1.0));
            EXPECT(Near(lay.pieceLength[p], Dist(lay.pieceStart[p], lay.pieceEnd[p])));
        }
    }
}

void
TestRightHandTraffic()
{
    const auto lay = fedmarl::BuildFactoryAlleyLayout(1, 1);
    for (uint32_t p = 0; p < lay.GetNPieces(); ++p)
    {
        if (lay.pieceKind[p] != PieceKind::LANE)
        {
            continue;
        }
        const Vector2D mid(0.5 * (lay.pieceStart[p].x + lay.pieceEnd[p].x),
                           0.5 * (lay.pieceStart[p].y + lay.pieceEnd[p].y));
        EXPECT(Near(DistToCentrelines(lay, mid), lay.laneOffset));
        // The centreline lies to the left: mid - right_normal * w is on it.
        const auto& d = lay.pieceDir[p];
        const Vector2D left(mid.x - d.y * lay.laneOffset, mid.y + d.x * lay.laneOffset);
        EXPECT(DistToCentrelines(lay, left) <= 1e-9);
    }
}

void
TestPlacementSlots()
{
    const auto lay = fedmarl::BuildFactoryAlleyLayout(1, 1);
    const auto slots = fedmarl::PlacementSlots(lay, D_MIN);
    EXPECT(slots.size() == fedmarl::LaneCapacity(lay, D_MIN) && slots.size() > 100);
    std::vector<Vector2D> pos;
    for (const auto& s : slots)
    {
        EXPECT(lay.pieceKind[s.piece] == PieceKind::LANE);
        pos.push_back(lay.PointOnPiece(s.piece, s.offset));
        for (const auto& node : lay.nodes)
        {
            EXPECT(Dist(pos.back(), node) >= 3.0);
        }
    }
    double closest = INFINITY;
    for (std::size_t i = 0; i < pos.size(); ++i)
    {
        for (std::size_t j = i + 1; j < pos.size(); ++j)
        {
            closest = std::min(closest, Dist(pos[i], pos[j]));
        }
    }
    EXPECT(closest >= D_MIN - 1e-9);
    EXPECT(fedmarl::LaneCapacity(fedmarl::BuildFactoryAlleyLayout(4, 4), D_MIN) >
           16 * 0.9 * slots.size());
    EXPECT(fedmarl::LaneCapacity(lay, 0.5) > slots.size());
}

void
TestCapacityAndSeparationErrors()
{
    const auto cap = fedmarl::LaneCapacity(fedmarl::BuildFactoryAlleyLayout(1, 1), D_MIN);
    auto full = MakeManager(cap, 1);
    EXPECT(full->GetNRobots() == cap && MinPairDistance(*full) >= D_MIN - 1e-9);
    std::string message;
    try
    {
        MakeManager(cap + 1, 1);
    }
    catch (const std::invalid_argument& e)
    {
        message = e.what();
    }
    EXPECT(message.find("LaneCapacity") != std::string::npos);
    EXPECT(message.find(std::to_string(cap)) != std::string::npos);
    EXPECT(message.find("tiles") != std::string::npos);
    message.clear();
    try
    {
        auto mgr = CreateObject<FactoryAlleyMobilityManager>();
        mgr->SetAttribute("MinSeparation", DoubleValue(3.0));
        NodeContainer nodes;
        nodes.Create(10);
        mgr->Install(nodes);
    }
    catch (const std::invalid_argument& e)
    {
        message = e.what();
    }
    EXPECT(message.find("d_min") != std::string::npos);
    // Stepping before installing is an error too.
    bool threw = false;
    try
    {
        CreateObject<FactoryAlleyMobilityManager>()->Step(0.005);
    }
    catch (const std::logic_error&)
    {
        threw = true;
    }
    EXPECT(threw);
}

// ------------------------------------------------------------------------------------- motion

void
TestRandomTraffic()
{
    // As the Python test: 4 independent halls (here: streams), two step sizes.
    for (auto [dt, steps] : {std::pair{0.005, 2000U}, std::pair{0.05, 400U}})
    {
        for (int64_t stream = 1; stream <= 4; ++stream)
        {
            auto mgr = MakeManager(20, stream);
            EXPECT(MinPairDistance(*mgr) >= D_MIN);
            const auto travelled = RunAndCheck(*mgr, dt, steps);
            EXPECT(travelled.size() == 20);
            if (travelled.size() != 20)
            {
                continue;
            }
            const double duration = dt * steps;
            EXPECT(Mean(travelled) / duration > 0.5 * SPEED);
            EXPECT(*std::min_element(travelled.begin(), travelled.end()) >
                   0.2 * SPEED * duration);
        }
    }
}

void
TestDenseSingleTile()
{
    for (int64_t stream = 10; stream <= 11; ++stream)
    {
        auto mgr = MakeManager(60, stream);
        const auto travelled = RunAndCheck(*mgr, 0.02, 600);
        EXPECT(travelled.size() == 60 && Mean(travelled) / (0.02 * 600) > 0.5 * SPEED);
    }
}

void
TestTiledHall()
{
    auto mgr = MakeManager(300, 20, 2, 2);
    const auto travelled = RunAndCheck(*mgr, 0.05, 200);
    EXPECT(travelled.size() == 300 && Mean(travelled) / (0.05 * 200) > 0.5 * SPEED);
}

void
TestLargeStepsAreSplit()
{
    for (int64_t stream = 30; stream <= 31; ++stream)
    {
        auto mgr = MakeManager(40, stream, 1, 1, 30.0);
        const auto travelled = RunAndCheck(*mgr, 0.05, 100, 30.0);
        EXPECT(travelled.size() == 40);
    }
    // 1.5 m in one step with d_min = 1 is three sub-steps of 0.5 m: nobody can be stuck here.
    auto mgr = MakeManager(5, 32, 1, 1, 30.0);
    const auto moved = mgr->Step(0.05);
    for (double m : moved)
    {
        EXPECT(Near(m, 1.5));
    }
}

void
TestDeterminism()
{
    auto trajectory = [](int64_t stream) {
        auto mgr = MakeManager(30, stream);
        std::vector<double> out;
        for (int s = 0; s < 300; ++s)
        {
            mgr->Step(0.01);
            for (uint32_t i = 0; i < mgr->GetNRobots(); ++i)
            {
                out.push_back(mgr->GetPosition2d(i).x);
                out.push_back(mgr->GetPosition2d(i).y);
            }
        }
        return out;
    };
    EXPECT(trajectory(7) == trajectory(7));
    EXPECT(trajectory(7) != trajectory(8));
}

// ----------------------------------------------------------------------------- yielding rules

void
TestFollowerKeepsMovingAtALegalGap()
{
    const auto lay = fedmarl::BuildFactoryAlleyLayout(1, 1);
    const uint32_t east = LaneInto(lay, {60.0, 40.0}, {1.0, 0.0});
    auto mgr = MakePlaced({{east, 20.0}, {east, 18.99}}); // leader, follower
    const auto moved = mgr->Step(0.005);
    EXPECT(Near(moved[0], 0.015) && Near(moved[1], 0.015));
    EXPECT(Near(Dist(mgr->GetPosition2d(0), mgr->GetPosition2d(1)), 1.01));
}

void
TestFollowerWaitsWhileItsLeaderTurns()
{
    const auto lay = fedmarl::BuildFactoryAlleyLayout(1, 1);
    const uint32_t west = LaneInto(lay, {2.5, 40.0}, {-1.0, 0.0});
    const double end = lay.pieceLength[west];
    auto mgr = MakePlaced({{west, end}, {west, end - 1.01}});
    const Vector2D before = mgr->GetPosition2d(1);
    const auto moved = mgr->Step(0.005);
    EXPECT(Near(moved[0], 0.015) && moved[1] == 0.0);
    EXPECT(lay.pieceKind[mgr->GetPiece(0)] == PieceKind::CONNECTOR);
    EXPECT(mgr->GetPosition2d(1).x == before.x && mgr->GetPosition2d(1).y == before.y);
    EXPECT(MinPairDistance(*mgr) >= D_MIN);
    double later = 0.0;
    for (int s = 0; s < 40; ++s)
    {
        later += mgr->Step(0.005)[1];
    }
    EXPECT(later > 0.0);
}

void
TestNobodyYieldsToARobotBehind()
{
    const auto lay = fedmarl::BuildFactoryAlleyLayout(1, 1);
    const uint32_t west = LaneInto(lay, {2.5, 40.0}, {-1.0, 0.0});
    const uint32_t uturn = lay.successors[west][0];
    const uint32_t east = lay.successors[uturn][0];
    auto mgr = MakePlaced({{uturn, 2.5 - 1.005}, {east, 0.1}}); // follower, leader
    EXPECT(mgr->GetDistToNode(0) < mgr->GetDistToNode(1));
    const auto moved = mgr->Step(0.005);
    EXPECT(moved[0] == 0.0 && Near(moved[1], 0.015));
}

void
TestMeetingInACrossing()
{
    const auto lay = fedmarl::BuildFactoryAlleyLayout(1, 1);
    const uint32_t east = LaneInto(lay, {60.0, 40.0}, {1.0, 0.0});
    const uint32_t north = LaneInto(lay, {60.0, 40.0}, {0.0, 1.0});
    const uint32_t straight = SuccessorTowards(lay, east, {1.0, 0.0});
    auto mgr = MakePlaced({{north, lay.pieceLength[north] - 0.81}, {straight, 2.5 - 0.615}});
    EXPECT(MinPairDistance(*mgr) >= D_MIN);
    const auto moved = mgr->Step(0.005);
    EXPECT(moved[0] == 0.0 && Near(moved[1], 0.015));
}

/// Whether robot r is inside `node`: on one of its connectors or past its stop line.
bool
Inside(const FactoryAlleyMobilityManager& mgr, uint32_t r, uint32_t node)
{
    const auto& lay = mgr.GetLayout();
    const uint32_t p = mgr.GetPiece(r);
    if (lay.pieceNode[p] != node)
    {
        return false;
    }
    return lay.pieceKind[p] == PieceKind::CONNECTOR ||
           lay.pieceLength[p] - mgr.GetOffset(r) < mgr.GetStopDistance() - 1e-9;
}

/// Step and return the order in which robots first got inside the crossing at (60, 40);
/// checks that two approaches are never inside at once.
std::vector<uint32_t>
CrossingOrder(FactoryAlleyMobilityManager& mgr, uint32_t steps)
{
    const auto& lay = mgr.GetLayout();
    const uint32_t node = NodeIndex(lay, {60.0, 40.0});
    std::vector<uint32_t> order;
    for (uint32_t s = 0; s < steps; ++s)
    {
        mgr.Step(0.005);
        std::set<uint32_t> approaches;
        for (uint32_t r = 0; r < mgr.GetNRobots(); ++r)
        {
            if (Inside(mgr, r, node))
            {
                approaches.insert(lay.pieceApproach[mgr.GetPiece(r)]);
                if (std::find(order.begin(), order.end(), r) == order.end())
                {
                    order.push_back(r);
                }
            }
        }
        REQUIRE(approaches.size() <= 1, "two approaches inside one crossing at step " << s);
        REQUIRE(MinPairDistance(mgr) >= D_MIN - 1e-9, "step " << s);
    }
    return order;
}

void
TestNearerRobotGoesFirst()
{
    const auto lay = fedmarl::BuildFactoryAlleyLayout(1, 1);
    const uint32_t east = LaneInto(lay, {60.0, 40.0}, {1.0, 0.0});
    const uint32_t north = LaneInto(lay, {60.0, 40.0}, {0.0, 1.0});
    const double line = fedmarl::StopDistance(D_MIN);
    for (bool eastFirst : {true, false})
    {
        for (bool together : {false, true})
        {
            const double nearRem = together ? line + 0.004 : 1.5;
            const double farRem = together ? line + 0.010 : 2.0;
            // Robot 1 is the nearer one, so the index tie-break cannot explain the order.
            const uint32_t p0 = eastFirst ? north : east;
            const uint32_t p1 = eastFirst ? east : north;
            auto mgr = MakePlaced(
                {{p0, lay.pieceLength[p0] - farRem}, {p1, lay.pieceLength[p1] - nearRem}});
            mgr->AssignStreams(4);
            EXPECT((CrossingOrder(*mgr, 600) == std::vector<uint32_t>{1, 0}));
        }
    }
}

void
TestPatienceCutsAPlatoon()
{
    // A robot waits at its stop line while a platoon of the other approach keeps the crossing.
    // A platoon of 10 passes in about 3.4 s, less than PATIENCE (5 s): the robot waits for all
    // of it. One of 20 needs about 6.7 s: after 5 s of waiting the robot cuts it.
    const auto lay = fedmarl::BuildFactoryAlleyLayout(1, 1);
    const uint32_t east = LaneInto(lay, {60.0, 40.0}, {1.0, 0.0});
    const uint32_t north = LaneInto(lay, {60.0, 40.0}, {0.0, 1.0});
    const double stop = fedmarl::StopDistance(D_MIN);
    for (uint32_t platoon : {10U, 20U})
    {
        std::vector<PlacementSlot> placement{{north, lay.pieceLength[north] - (stop + 0.5)}};
        for (uint32_t k = 0; k < platoon; ++k)
        {
            placement.push_back({east, lay.pieceLength[east] - (stop + 0.01 + 1.01 * k)});
        }
        auto mgr = MakePlaced(placement);
        const auto order = CrossingOrder(*mgr, 2400);
        EXPECT(order.size() == platoon + 1 && order.front() == 1);
        const auto waiting = std::find(order.begin(), order.end(), 0U) - order.begin();
        if (platoon == 10)
        {
            EXPECT(waiting == static_cast<long>(platoon));
        }
        else
        {
            EXPECT(waiting > 2 && waiting < static_cast<long>(platoon));
        }
    }
}

// -------------------------------------------------------------------------------------- ns-3

void
CountCourseChange(uint32_t* count, Ptr<const MobilityModel> /* model */)
{
    ++*count;
}

void
TestSimulatorDrivesTheModels()
{
    // Default UpdateInterval: 50 ms. In 1 s of simulated time the manager steps 20 times, like
    // 20 direct Step(0.05) calls from the same stream.
    auto mgr = CreateObject<FactoryAlleyMobilityManager>();
    mgr->AssignStreams(42);
    NodeContainer nodes;
    nodes.Create(20);
    mgr->Install(nodes);
    auto direct = MakeManager(20, 42);

    uint32_t changes = 0;
    for (uint32_t i = 0; i < nodes.GetN(); ++i)
    {
        auto model = nodes.Get(i)->GetObject<MobilityModel>();
        EXPECT(model && DynamicCast<FactoryAlleyMobilityModel>(model));
        EXPECT(model->GetInstanceTypeId().GetName() == "ns3::FactoryAlleyMobilityModel");
        model->TraceConnectWithoutContext("CourseChange",
                                          MakeBoundCallback(&CountCourseChange, &changes));
    }
    Simulator::Stop(Seconds(1.01));
    Simulator::Run();
    for (int s = 0; s < 20; ++s)
    {
        direct->Step(0.05);
    }
    EXPECT(changes > 20 * 20 / 2); // most robots move in most steps
    EXPECT(changes <= 20 * 20);
    for (uint32_t i = 0; i < nodes.GetN(); ++i)
    {
        auto model = nodes.Get(i)->GetObject<MobilityModel>();
        const Vector p = model->GetPosition();
        EXPECT(p.x == direct->GetPosition2d(i).x && p.y == direct->GetPosition2d(i).y);
        EXPECT(p.z == 1.5);
        const Vector v = model->GetVelocity();
        const double speed = std::hypot(v.x, v.y);
        EXPECT(speed <= SPEED + 1e-9 && Near(speed, mgr->GetActualSpeed(i)));
        EXPECT(v.z == 0.0);
    }
    Simulator::Destroy();
}

void
TestSetPositionSnapsToALane()
{
    auto mgr = MakeManager(2, 5);
    auto model = mgr->GetModel(0);
    model->SetPosition(Vector(30.0, 41.0, 0.0)); // near the westbound lane (y = 41.25)
    const Vector p = model->GetPosition();
    EXPECT(Near(p.x, 30.0) && Near(p.y, 41.25) && p.z == 1.5);
    EXPECT(Near(mgr->GetHeading(0).x, -1.0));
    // The hall's one random variable is assigned through the first robot's model.
    EXPECT(mgr->GetModel(0)->AssignStreams(7) == 1 && mgr->GetModel(1)->AssignStreams(8) == 0);
}

/// Every invariant group of the factory alley mobility.
class FedmarlMobilityTestSuite : public TestSuite
{
  public:
    FedmarlMobilityTestSuite()
        : TestSuite("fedmarl-mobility", Type::UNIT)
    {
        const std::vector<std::pair<std::string, std::function<void()>>> cases{
            {"single-tile", TestSingleTile},
            {"tiles", TestTiles},
            {"lane-graph-continuity", TestLaneGraphContinuity},
            {"right-hand-traffic", TestRightHandTraffic},
            {"placement-slots", TestPlacementSlots},
            {"capacity-and-separation-errors", TestCapacityAndSeparationErrors},
            {"random-traffic", TestRandomTraffic},
            {"dense-single-tile", TestDenseSingleTile},
            {"tiled-hall-300", TestTiledHall},
            {"large-steps-are-split", TestLargeStepsAreSplit},
            {"determinism", TestDeterminism},
            {"follower-keeps-moving", TestFollowerKeepsMovingAtALegalGap},
            {"follower-waits-while-leader-turns", TestFollowerWaitsWhileItsLeaderTurns},
            {"nobody-yields-to-a-robot-behind", TestNobodyYieldsToARobotBehind},
            {"meeting-in-a-crossing", TestMeetingInACrossing},
            {"nearer-robot-goes-first", TestNearerRobotGoesFirst},
            {"patience-and-platoon", TestPatienceCutsAPlatoon},
            {"simulator-drives-the-models", TestSimulatorDrivesTheModels},
            {"set-position-snaps-to-a-lane", TestSetPositionSnapsToALane},
        };
        for (const auto& [name, body] : cases)
        {
            AddTestCase(new MobilityTestCase(name, body), Duration::QUICK);
        }
    }
};

/// Static instance: registers the suite with the test runner.
FedmarlMobilityTestSuite g_fedmarlMobilityTestSuite;

} // namespace

int
main(int argc, char** argv)
{
    return TestRunner::Run(argc, argv);
}
