/*
 * SPDX-License-Identifier: GPL-2.0-only
 *
 * Robots driving along the alleys of the in-X factory hall (C++ port of the AlleyMobility class
 * of pybridge/twin/mobility.py, one hall instead of B copies).
 *
 * The Python model works on whole arrays; this port loops over robots but keeps the same
 * decisions, the same floating-point expressions and the same order of uniform draws (exits are
 * drawn hop round by hop round, in robot order within a round, like the vectorised loop), so
 * the two produce the same trajectories from the same placement and uniforms.
 */

#include "factory-alley-mobility.h"

#include "ns3/abort.h"
#include "ns3/double.h"
#include "ns3/log.h"
#include "ns3/node.h"
#include "ns3/simulator.h"
#include "ns3/uinteger.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <sstream>
#include <stdexcept>
#include <tuple>

namespace ns3
{

NS_LOG_COMPONENT_DEFINE("FactoryAlleyMobility");

NS_OBJECT_ENSURE_REGISTERED(FactoryAlleyMobilityManager);
NS_OBJECT_ENSURE_REGISTERED(FactoryAlleyMobilityModel);

using fedmarl::PieceKind;
using fedmarl::PlacementSlot;

namespace
{

/// Up to this many robots the pair search tests all pairs (a grid costs more than it saves).
constexpr uint32_t DENSE_MAX_ROBOTS = 64;

/// numpy's round(x, 6): scale, round half to even, unscale.
double
Round6(double x)
{
    return std::nearbyint(x * 1e6) / 1e6;
}

} // namespace

// ------------------------------------------------------------------------------------ manager

TypeId
FactoryAlleyMobilityManager::GetTypeId()
{
    static TypeId tid =
        TypeId("ns3::FactoryAlleyMobilityManager")
            .SetParent<Object>()
            .SetGroupName("Mobility")
            .AddConstructor<FactoryAlleyMobilityManager>()
            .AddAttribute("TilesX",
                          "Number of 180 m x 80 m factory tiles along x that form the hall.",
                          UintegerValue(1),
                          MakeUintegerAccessor(&FactoryAlleyMobilityManager::m_tilesX),
                          MakeUintegerChecker<uint32_t>(1))
            .AddAttribute("TilesY",
                          "Number of factory tiles along y that form the hall.",
                          UintegerValue(1),
                          MakeUintegerAccessor(&FactoryAlleyMobilityManager::m_tilesY),
                          MakeUintegerChecker<uint32_t>(1))
            .AddAttribute("TileLength",
                          "x extent of one tile (m); vertical alleys at 1/3 and 2/3 of it.",
                          DoubleValue(180.0),
                          MakeDoubleAccessor(&FactoryAlleyMobilityManager::m_tileLength),
                          MakeDoubleChecker<double>(0.0))
            .AddAttribute("TileWidth",
                          "y extent of one tile (m); the horizontal alley at half of it.",
                          DoubleValue(80.0),
                          MakeDoubleAccessor(&FactoryAlleyMobilityManager::m_tileWidth),
                          MakeDoubleChecker<double>(0.0))
            .AddAttribute("AlleyWidth",
                          "Width of the two-lane alleys (m); lanes run a quarter of it right of "
                          "the centreline.",
                          DoubleValue(5.0),
                          MakeDoubleAccessor(&FactoryAlleyMobilityManager::m_alleyWidth),
                          MakeDoubleChecker<double>(0.0))
            .AddAttribute("Speed",
                          "Cruising speed of the robots (m/s).",
                          DoubleValue(3.0),
                          MakeDoubleAccessor(&FactoryAlleyMobilityManager::m_speed),
                          MakeDoubleChecker<double>(0.0))
            .AddAttribute("MinSeparation",
                          "Minimum centre-to-centre distance between two robots, d_min (m); at "
                          "most half the alley width (the spacing of opposite lanes).",
                          DoubleValue(1.0),
                          MakeDoubleAccessor(&FactoryAlleyMobilityManager::m_dMin),
                          MakeDoubleChecker<double>(0.0))
            .AddAttribute("UpdateInterval",
                          "Simulated time between two automatic steps of all robots (50 ms = "
                          "10 decision steps of 5 ms); zero disables automatic stepping.",
                          TimeValue(MilliSeconds(50)),
                          MakeTimeAccessor(&FactoryAlleyMobilityManager::m_updateInterval),
                          MakeTimeChecker(Time(0)));
    return tid;
}

FactoryAlleyMobilityManager::FactoryAlleyMobilityManager()
    : m_uniform(CreateObject<UniformRandomVariable>())
{
    NS_LOG_FUNCTION(this);
}

FactoryAlleyMobilityManager::~FactoryAlleyMobilityManager()
{
    NS_LOG_FUNCTION(this);
}

void
FactoryAlleyMobilityManager::DoDispose()
{
    NS_LOG_FUNCTION(this);
    // The models point back at the manager: drop the references so both can be freed.
    Simulator::Cancel(m_event);
    m_models.clear();
    m_uniform = nullptr;
    m_source = nullptr;
    Object::DoDispose();
}

void
FactoryAlleyMobilityManager::EnsureLayout() const
{
    if (!m_layout)
    {
        m_layout = std::make_unique<const fedmarl::FactoryAlleyLayout>(
            fedmarl::BuildFactoryAlleyLayout(m_tilesX,
                                             m_tilesY,
                                             m_tileLength,
                                             m_tileWidth,
                                             m_alleyWidth));
        m_slots = fedmarl::PlacementSlots(*m_layout, m_dMin);
    }
}

const fedmarl::FactoryAlleyLayout&
FactoryAlleyMobilityManager::GetLayout() const
{
    EnsureLayout();
    return *m_layout;
}

uint32_t
FactoryAlleyMobilityManager::GetLaneCapacity() const
{
    EnsureLayout();
    return static_cast<uint32_t>(m_slots.size());
}

double
FactoryAlleyMobilityManager::GetStopDistance() const
{
    return fedmarl::StopDistance(m_dMin);
}

void
FactoryAlleyMobilityManager::CheckConfiguration(uint32_t nRobots) const
{
    const auto& lay = GetLayout();
    if (nRobots < 1)
    {
        throw std::invalid_argument("the number of robots must be >= 1, got 0");
    }
    if (!(0.0 < m_dMin && m_dMin <= 2.0 * lay.laneOffset))
    {
        std::ostringstream msg;
        msg << "MinSeparation d_min must be in (0, " << 2.0 * lay.laneOffset
            << "] m (the spacing of opposite lanes), got " << m_dMin;
        throw std::invalid_argument(msg.str());
    }
    if (nRobots > m_slots.size())
    {
        std::ostringstream msg;
        msg << "n_robots=" << nRobots << " exceeds the lane capacity LaneCapacity(layout, d_min="
            << m_dMin << ")=" << m_slots.size() << " of a " << lay.tilesX << "x" << lay.tilesY
            << "-tile hall; use more tiles (attributes TilesX, TilesY)";
        throw std::invalid_argument(msg.str());
    }
}

void
FactoryAlleyMobilityManager::AttachModels(NodeContainer nodes)
{
    const uint32_t n = nodes.GetN();
    m_models.clear();
    for (uint32_t i = 0; i < n; ++i)
    {
        auto model = CreateObject<FactoryAlleyMobilityModel>();
        model->Attach(this, i);
        nodes.Get(i)->AggregateObject(model);
        m_models.push_back(model);
    }
    m_waited.assign(n, 0.0);
    m_actualSpeed.assign(n, 0.0);
    m_stepMoved.assign(n, 0.0);
    if (!m_updateInterval.IsZero())
    {
        // The event holds a reference: the manager lives while the simulator may call it.
        m_event = Simulator::Schedule(m_updateInterval,
                                      &FactoryAlleyMobilityManager::PeriodicStep,
                                      Ptr<FactoryAlleyMobilityManager>(this));
    }
}

void
FactoryAlleyMobilityManager::Install(NodeContainer nodes)
{
    NS_LOG_FUNCTION(this << nodes.GetN());
    if (!m_models.empty())
    {
        throw std::logic_error("FactoryAlleyMobilityManager::Install may be called only once");
    }
    CheckConfiguration(nodes.GetN());
    // Robot state first: the models may be queried as soon as they are aggregated.
    m_piece.assign(nodes.GetN(), 0);
    m_offset.assign(nodes.GetN(), 0.0);
    AttachModels(nodes);
    Reset();
}

void
FactoryAlleyMobilityManager::Install(NodeContainer nodes,
                                     const std::vector<PlacementSlot>& placement)
{
    NS_LOG_FUNCTION(this << nodes.GetN());
    if (!m_models.empty())
    {
        throw std::logic_error("FactoryAlleyMobilityManager::Install may be called only once");
    }
    CheckConfiguration(nodes.GetN());
    if (placement.size() != nodes.GetN())
    {
        throw std::invalid_argument("the placement must hold one (piece, offset) per node");
    }
    m_piece.assign(nodes.GetN(), 0);
    m_offset.assign(nodes.GetN(), 0.0);
    AttachModels(nodes);
    Place(placement);
}

void
FactoryAlleyMobilityManager::Reset()
{
    NS_LOG_FUNCTION(this);
    const auto n = GetNRobots();
    // A random key per slot and the n smallest: n distinct slots, uniformly, in the Python
    // model's draw order (one key per slot, slot order).
    std::vector<double> keys(m_slots.size());
    for (auto& k : keys)
    {
        k = NextUniform();
    }
    std::vector<uint32_t> order(m_slots.size());
    std::iota(order.begin(), order.end(), 0U);
    std::partial_sort(order.begin(),
                      order.begin() + n,
                      order.end(),
                      [&keys](uint32_t a, uint32_t b) {
                          return keys[a] < keys[b] || (keys[a] == keys[b] && a < b);
                      });
    std::vector<PlacementSlot> placement(n);
    for (uint32_t i = 0; i < n; ++i)
    {
        placement[i] = m_slots[order[i]];
    }
    Place(placement);
}

void
FactoryAlleyMobilityManager::Place(const std::vector<PlacementSlot>& placement)
{
    NS_LOG_FUNCTION(this);
    const auto& lay = GetLayout();
    if (placement.size() != GetNRobots())
    {
        throw std::invalid_argument("the placement must hold one (piece, offset) per robot");
    }
    for (const auto& s : placement)
    {
        if (s.piece >= lay.GetNPieces())
        {
            throw std::invalid_argument("piece index out of range");
        }
        if (!(s.offset >= 0.0 &&
              s.offset <= lay.pieceLength[s.piece] + fedmarl::GEOMETRY_TOLERANCE))
        {
            throw std::invalid_argument("offset must lie within [0, piece length]");
        }
    }
    const std::vector<Vector2D> before = m_position;
    for (uint32_t i = 0; i < placement.size(); ++i)
    {
        m_piece[i] = placement[i].piece;
        m_offset[i] = placement[i].offset;
    }
    m_waited.assign(GetNRobots(), 0.0);
    m_actualSpeed.assign(GetNRobots(), 0.0);
    m_stepMoved.assign(GetNRobots(), 0.0);
    UpdateDerived();
    NotifyChanged(before);
}

void
FactoryAlleyMobilityManager::MoveRobotTo(uint32_t robot, const Vector& position)
{
    NS_LOG_FUNCTION(this << robot << position);
    NS_ABORT_MSG_IF(robot >= GetNRobots(), "no robot " << robot);
    const auto& lay = GetLayout();
    uint32_t best = 0;
    double bestOffset = 0.0;
    double bestD2 = INFINITY;
    for (uint32_t p = 0; p < lay.GetNPieces(); ++p)
    {
        if (lay.pieceKind[p] != PieceKind::LANE)
        {
            continue;
        }
        const double along = (position.x - lay.pieceStart[p].x) * lay.pieceDir[p].x +
                             (position.y - lay.pieceStart[p].y) * lay.pieceDir[p].y;
        const double offset = std::clamp(along, 0.0, lay.pieceLength[p]);
        const Vector2D q = lay.PointOnPiece(p, offset);
        const double d2 = (q.x - position.x) * (q.x - position.x) +
                          (q.y - position.y) * (q.y - position.y);
        if (d2 < bestD2)
        {
            best = p;
            bestOffset = offset;
            bestD2 = d2;
        }
    }
    const std::vector<Vector2D> before = m_position;
    m_piece[robot] = best;
    m_offset[robot] = bestOffset;
    m_waited[robot] = 0.0;
    m_actualSpeed[robot] = 0.0;
    UpdateDerived();
    NotifyChanged(before);
}

void
FactoryAlleyMobilityManager::SetUniformSource(UniformSource source)
{
    m_source = std::move(source);
}

int64_t
FactoryAlleyMobilityManager::AssignStreams(int64_t stream)
{
    NS_LOG_FUNCTION(this << stream);
    m_uniform->SetStream(stream);
    return 1;
}

double
FactoryAlleyMobilityManager::NextUniform()
{
    return m_source ? m_source() : m_uniform->GetValue(0.0, 1.0);
}

uint32_t
FactoryAlleyMobilityManager::GetNRobots() const
{
    return static_cast<uint32_t>(m_piece.size());
}

uint32_t
FactoryAlleyMobilityManager::GetPiece(uint32_t robot) const
{
    return m_piece.at(robot);
}

double
FactoryAlleyMobilityManager::GetOffset(uint32_t robot) const
{
    return m_offset.at(robot);
}

Vector2D
FactoryAlleyMobilityManager::GetPosition2d(uint32_t robot) const
{
    return m_position.at(robot);
}

Vector2D
FactoryAlleyMobilityManager::GetHeading(uint32_t robot) const
{
    return GetLayout().pieceDir[m_piece.at(robot)];
}

double
FactoryAlleyMobilityManager::GetActualSpeed(uint32_t robot) const
{
    return m_actualSpeed.at(robot);
}

double
FactoryAlleyMobilityManager::GetLastStepDistance(uint32_t robot) const
{
    return m_stepMoved.at(robot);
}

double
FactoryAlleyMobilityManager::GetDistToNode(uint32_t robot) const
{
    const auto& lay = GetLayout();
    const uint32_t p = m_piece.at(robot);
    // On a lane: what is left of it plus the lane offset (the lane stops that short of the
    // node); a robot on a connector is inside the intersection: top priority.
    return lay.pieceKind[p] == PieceKind::CONNECTOR
               ? 0.0
               : lay.pieceLength[p] - m_offset[robot] + lay.laneOffset;
}

Ptr<FactoryAlleyMobilityModel>
FactoryAlleyMobilityManager::GetModel(uint32_t robot) const
{
    return m_models.at(robot);
}

void
FactoryAlleyMobilityManager::UpdateDerived()
{
    const auto& lay = *m_layout;
    m_position.resize(GetNRobots());
    for (uint32_t i = 0; i < GetNRobots(); ++i)
    {
        m_position[i] = lay.PointOnPiece(m_piece[i], m_offset[i]);
    }
}

void
FactoryAlleyMobilityManager::NotifyChanged(const std::vector<Vector2D>& before) const
{
    for (uint32_t i = 0; i < m_models.size(); ++i)
    {
        if (i >= before.size() || before[i].x != m_position[i].x ||
            before[i].y != m_position[i].y)
        {
            m_models[i]->NotifyMoved();
        }
    }
}

void
FactoryAlleyMobilityManager::PeriodicStep()
{
    Step(m_updateInterval.GetSeconds());
    m_event = Simulator::Schedule(m_updateInterval,
                                  &FactoryAlleyMobilityManager::PeriodicStep,
                                  Ptr<FactoryAlleyMobilityManager>(this));
}

const std::vector<double>&
FactoryAlleyMobilityManager::Step(double dt)
{
    NS_LOG_FUNCTION(this << dt);
    if (m_models.empty())
    {
        throw std::logic_error("install the robots before stepping them");
    }
    if (dt < 0.0)
    {
        std::ostringstream msg;
        msg << "dt must be >= 0, got " << dt;
        throw std::invalid_argument(msg.str());
    }
    const uint32_t n = GetNRobots();
    m_stepMoved.assign(n, 0.0);
    const double total = m_speed * dt;
    if (total <= 0.0)
    {
        if (dt > 0.0)
        {
            m_actualSpeed.assign(n, 0.0);
        }
        return m_stepMoved;
    }
    const std::vector<Vector2D> before = m_position;
    // Split so that nobody travels more than SUBSTEP_FRACTION * d_min between two checks: a
    // robot could otherwise land on the far side of a stopped one.
    const auto nSub = std::max<int64_t>(
        1,
        static_cast<int64_t>(
            std::ceil(total / (fedmarl::SUBSTEP_FRACTION * m_dMin) - 1e-12)));
    for (int64_t k = 0; k < nSub; ++k)
    {
        Substep(total / static_cast<double>(nSub), dt / static_cast<double>(nSub));
    }
    for (uint32_t i = 0; i < n; ++i)
    {
        m_actualSpeed[i] = m_stepMoved[i] / dt;
    }
    NotifyChanged(before);
    return m_stepMoved;
}

void
FactoryAlleyMobilityManager::Substep(double advance, double dt)
{
    const auto& lay = *m_layout;
    const uint32_t n = GetNRobots();
    m_key.resize(n);
    for (uint32_t i = 0; i < n; ++i)
    {
        m_key[i] = GetDistToNode(i);
    }
    TokenLimits(advance);
    AdvanceProposals();
    m_newPosition.resize(n);
    for (uint32_t i = 0; i < n; ++i)
    {
        m_newPosition[i] = lay.PointOnPiece(m_newPiece[i], m_newOffset[i]);
    }
    Resolve(advance);
    for (uint32_t i = 0; i < n; ++i)
    {
        double moved = 0.0;
        if (!m_stopped[i])
        {
            m_piece[i] = m_newPiece[i];
            m_offset[i] = m_newOffset[i];
            m_position[i] = m_newPosition[i];
            moved = m_want[i];
        }
        m_stepMoved[i] += moved;
        m_waited[i] = moved > 0.0 ? 0.0 : m_waited[i] + dt;
    }
}

void
FactoryAlleyMobilityManager::TokenLimits(double advance)
{
    // Robots on a node's connectors or past its stop line are inside it; robots that could
    // reach the stop line this sub-step are arriving. Purely reactive yielding can freeze two
    // robots that reach a crossing together (the one giving way already stands on the other's
    // path), so one approach at a time holds each node.
    const auto& lay = *m_layout;
    const uint32_t n = GetNRobots();
    const double stop = GetStopDistance();
    m_want.assign(n, advance);

    /// A robot that could reach its stop line in this sub-step.
    struct Arrival
    {
        uint32_t node;     //!< node it arrives at
        double roundedKey; //!< distance to the node, rounded to 1e-6 m like the reference
        double waited;     //!< time since it last moved (s)
        uint32_t robot;    //!< robot index
        uint32_t approach; //!< its lane
        double remaining;  //!< left on its lane (m)
    };

    std::vector<Arrival> arrivals;
    bool anyInside = false;
    std::vector<uint32_t> insideRobots;
    for (uint32_t i = 0; i < n; ++i)
    {
        const uint32_t p = m_piece[i];
        const double remaining = lay.pieceLength[p] - m_offset[i];
        const bool conn = lay.pieceKind[p] == PieceKind::CONNECTOR;
        const bool arriving = !conn && remaining < stop + advance;
        const bool inside =
            conn || (arriving && remaining < stop - fedmarl::GEOMETRY_TOLERANCE);
        if (inside)
        {
            anyInside = true;
            insideRobots.push_back(i);
        }
        else if (arriving)
        {
            arrivals.push_back(
                {lay.pieceNode[p], Round6(m_key[i]), m_waited[i], i, lay.pieceApproach[p],
                 remaining});
        }
    }
    if (arrivals.empty() || (arrivals.size() == 1 && !anyInside))
    {
        return;
    }
    m_held.assign(lay.GetNNodes(), -1);
    for (uint32_t i : insideRobots)
    {
        m_held[lay.pieceNode[m_piece[i]]] = lay.pieceApproach[m_piece[i]];
    }
    // Per node: nearest first, then the longest wait, then the lowest index.
    std::sort(arrivals.begin(), arrivals.end(), [](const Arrival& a, const Arrival& b) {
        return std::make_tuple(a.node, a.roundedKey, -a.waited, a.robot) <
               std::make_tuple(b.node, b.roundedKey, -b.waited, b.robot);
    });
    for (std::size_t first = 0; first < arrivals.size();)
    {
        std::size_t last = first;
        while (last < arrivals.size() && arrivals[last].node == arrivals[first].node)
        {
            ++last;
        }
        const int64_t hold = m_held[arrivals[first].node];
        bool starved = false;
        for (std::size_t k = first; k < last; ++k)
        {
            starved = starved || (hold >= 0 && arrivals[k].approach != hold &&
                                  arrivals[k].waited >= fedmarl::PATIENCE);
        }
        for (std::size_t k = first; k < last; ++k)
        {
            const auto& a = arrivals[k];
            const bool go = hold >= 0 ? (a.approach == hold && !starved)
                                      : a.approach == arrivals[first].approach;
            if (!go)
            {
                m_want[a.robot] = std::min(advance, std::max(a.remaining - stop, 0.0));
            }
        }
        first = last;
    }
}

void
FactoryAlleyMobilityManager::AdvanceProposals()
{
    const auto& lay = *m_layout;
    const uint32_t n = GetNRobots();
    m_newPiece = m_piece;
    m_newOffset = m_offset;
    std::vector<double> left(m_want);
    std::vector<uint32_t> hop;
    std::vector<double> remHop;
    for (uint32_t i = 0; i < n; ++i)
    {
        const double remaining = lay.pieceLength[m_piece[i]] - m_offset[i];
        if (left[i] > remaining)
        {
            hop.push_back(i);
            remHop.push_back(remaining);
        }
    }
    // Round by round over the robots still crossing piece ends, robot order within a round: the
    // order in which the Python model draws its uniforms.
    for (uint32_t round = 0; round < fedmarl::MAX_HOPS && !hop.empty(); ++round)
    {
        std::size_t kept = 0;
        for (std::size_t k = 0; k < hop.size(); ++k)
        {
            const uint32_t i = hop[k];
            left[i] -= remHop[k];
            const auto& succ = lay.successors[m_newPiece[i]];
            const double u = NextUniform();
            auto pick = static_cast<std::size_t>(u * static_cast<double>(succ.size()));
            pick = std::min(pick, succ.size() - 1); // u < 1 already ensures this
            const uint32_t next = succ[pick];
            m_newPiece[i] = next;
            m_newOffset[i] = 0.0;
            if (left[i] > lay.pieceLength[next])
            {
                hop[kept] = i;
                remHop[kept] = lay.pieceLength[next];
                ++kept;
            }
        }
        hop.resize(kept);
        remHop.resize(kept);
    }
    if (!hop.empty())
    {
        throw std::runtime_error("a robot crossed more than MAX_HOPS pieces in one sub-step");
    }
    for (uint32_t i = 0; i < n; ++i)
    {
        m_newOffset[i] = m_newOffset[i] + left[i];
    }
}

void
FactoryAlleyMobilityManager::CandidatePairs(double radius)
{
    const uint32_t n = GetNRobots();
    const double r2 = radius * radius;
    m_pairs.clear();
    auto consider = [this, r2](uint32_t i, uint32_t j) {
        const double dx = m_position[i].x - m_position[j].x;
        const double dy = m_position[i].y - m_position[j].y;
        if (dx * dx + dy * dy < r2)
        {
            m_pairs.emplace_back(i, j);
        }
    };
    if (n <= DENSE_MAX_ROBOTS)
    {
        for (uint32_t i = 0; i < n; ++i)
        {
            for (uint32_t j = i + 1; j < n; ++j)
            {
                consider(i, j);
            }
        }
        return;
    }
    // Uniform grid of radius-sized cells: a pair closer than `radius` lies in the same or in
    // adjacent cells. Cells are numbered row by row and the robots sorted by cell, so the
    // neighbours of a robot that come after it in that order are the rest of its own cell
    // range and one contiguous range of the next row; both move forward monotonically as we
    // walk the sorted list, so no search is needed. Each unordered pair is seen once.
    const auto& lay = *m_layout;
    const auto nx = static_cast<uint64_t>(std::ceil(lay.hallLength / radius)) + 1;
    const auto ny = static_cast<uint64_t>(std::ceil(lay.hallWidth / radius)) + 1;
    auto cellKey = [&](const Vector2D& p) {
        const auto cx = static_cast<uint64_t>(
            std::clamp(std::floor(p.x / radius), 0.0, static_cast<double>(nx - 1)));
        const auto cy = static_cast<uint64_t>(
            std::clamp(std::floor(p.y / radius), 0.0, static_cast<double>(ny - 1)));
        return cy * nx + cx;
    };
    const bool sameGrid = m_cellSort.size() == n && m_cellRadius == radius;
    if (!sameGrid)
    {
        m_cellSort.resize(n);
        for (uint32_t i = 0; i < n; ++i)
        {
            m_cellSort[i].second = i;
        }
    }
    for (auto& [key, i] : m_cellSort)
    {
        key = cellKey(m_position[i]);
    }
    if (sameGrid)
    {
        // Robots rarely change cells between two sub-steps: the previous order is nearly
        // sorted and an insertion sort costs little more than one pass.
        for (std::size_t k = 1; k < n; ++k)
        {
            const auto item = m_cellSort[k];
            std::size_t m = k;
            for (; m > 0 && item < m_cellSort[m - 1]; --m)
            {
                m_cellSort[m] = m_cellSort[m - 1];
            }
            m_cellSort[m] = item;
        }
    }
    else
    {
        std::sort(m_cellSort.begin(), m_cellSort.end());
        m_cellRadius = radius;
    }
    std::size_t nextRow = 0; // first entry not before the current robot's next-row range
    for (std::size_t k = 0; k < n; ++k)
    {
        const auto [key, i] = m_cellSort[k];
        const uint64_t cx = key % nx;
        const auto add = [&](uint32_t j) { consider(std::min(i, j), std::max(i, j)); };
        // The rest of its own cell and the cell to its right (left neighbours come earlier).
        const uint64_t sameHi = key + (cx + 1 < nx ? 1 : 0);
        for (std::size_t m = k + 1; m < n && m_cellSort[m].first <= sameHi; ++m)
        {
            add(m_cellSort[m].second);
        }
        // The three cells of the next row.
        if (key / nx + 1 < ny)
        {
            const uint64_t lo = key + nx - (cx > 0 ? 1 : 0);
            const uint64_t hi = key + nx + (cx + 1 < nx ? 1 : 0);
            while (nextRow < n && m_cellSort[nextRow].first < lo)
            {
                ++nextRow;
            }
            for (std::size_t m = nextRow; m < n && m_cellSort[m].first <= hi; ++m)
            {
                add(m_cellSort[m].second);
            }
        }
    }
}

void
FactoryAlleyMobilityManager::Resolve(double advance)
{
    const auto& lay = *m_layout;
    const uint32_t n = GetNRobots();
    m_stopped.resize(n);
    for (uint32_t i = 0; i < n; ++i)
    {
        m_stopped[i] = m_want[i] <= 0.0;
    }
    // No pair farther apart than d_min + 2 advance can get closer than d_min in one sub-step.
    CandidatePairs(m_dMin + 2.0 * advance);
    if (m_pairs.empty())
    {
        return;
    }
    const double d2Min = m_dMin * m_dMin;
    auto dot = [](double ax, double ay, const Vector2D& b) { return ax * b.x + ay * b.y; };
    auto gap2 = [](const Vector2D& a, const Vector2D& b) {
        const double gx = b.x - a.x;
        const double gy = b.y - a.y;
        return gx * gx + gy * gy;
    };
    std::vector<uint8_t> iFirst(m_pairs.size());
    // Rule 2: give way to a close robot ahead unless it is a mutual case we win. Flags are
    // only ever set, so the order of the pairs does not matter.
    for (std::size_t k = 0; k < m_pairs.size(); ++k)
    {
        const auto [i, j] = m_pairs[k];
        const double relX = m_position[j].x - m_position[i].x;
        const double relY = m_position[j].y - m_position[i].y;
        const bool jAhead = dot(relX, relY, lay.pieceDir[m_piece[i]]) > 0.0;
        const bool iAhead = dot(relX, relY, lay.pieceDir[m_piece[j]]) < 0.0;
        iFirst[k] = m_key[i] <= m_key[j]; // i < j, so ties go to i
        const bool close = gap2(m_newPosition[i], m_newPosition[j]) < d2Min;
        if (close && jAhead && !(iAhead && iFirst[k]))
        {
            m_stopped[i] = 1;
        }
        if (close && iAhead && !(jAhead && !iFirst[k]))
        {
            m_stopped[j] = 1;
        }
    }
    // Rule 3: until no pair with a mover is too close, stop such movers. Each round decides
    // from the state at its start, like the vectorised reference.
    std::vector<uint32_t> toStop;
    while (true)
    {
        toStop.clear();
        bool anyActive = false;
        for (std::size_t k = 0; k < m_pairs.size(); ++k)
        {
            const auto [i, j] = m_pairs[k];
            const bool mi = !m_stopped[i];
            const bool mj = !m_stopped[j];
            if (!(mi || mj))
            {
                continue;
            }
            anyActive = true;
            const Vector2D& fi = mi ? m_newPosition[i] : m_position[i];
            const Vector2D& fj = mj ? m_newPosition[j] : m_position[j];
            if (gap2(fi, fj) < d2Min)
            {
                if (mi && (!mj || !iFirst[k]))
                {
                    toStop.push_back(i);
                }
                if (mj && (!mi || iFirst[k]))
                {
                    toStop.push_back(j);
                }
            }
        }
        if (!anyActive || toStop.empty())
        {
            break;
        }
        for (uint32_t i : toStop)
        {
            m_stopped[i] = 1;
        }
    }
}

// -------------------------------------------------------------------------------------- model

TypeId
FactoryAlleyMobilityModel::GetTypeId()
{
    static TypeId tid =
        TypeId("ns3::FactoryAlleyMobilityModel")
            .SetParent<MobilityModel>()
            .SetGroupName("Mobility")
            .AddConstructor<FactoryAlleyMobilityModel>()
            .AddAttribute("Height",
                          "Height of the reported position above the floor (m): the robot's "
                          "access point antenna.",
                          DoubleValue(1.5),
                          MakeDoubleAccessor(&FactoryAlleyMobilityModel::m_height),
                          MakeDoubleChecker<double>());
    return tid;
}

FactoryAlleyMobilityModel::FactoryAlleyMobilityModel()
    : m_robot(0)
{
    NS_LOG_FUNCTION(this);
}

FactoryAlleyMobilityModel::~FactoryAlleyMobilityModel()
{
    NS_LOG_FUNCTION(this);
}

void
FactoryAlleyMobilityModel::DoDispose()
{
    NS_LOG_FUNCTION(this);
    m_manager = nullptr;
    MobilityModel::DoDispose();
}

void
FactoryAlleyMobilityModel::Attach(Ptr<FactoryAlleyMobilityManager> manager, uint32_t robot)
{
    m_manager = manager;
    m_robot = robot;
}

uint32_t
FactoryAlleyMobilityModel::GetRobotIndex() const
{
    return m_robot;
}

Ptr<FactoryAlleyMobilityManager>
FactoryAlleyMobilityModel::GetManager() const
{
    return m_manager;
}

void
FactoryAlleyMobilityModel::NotifyMoved() const
{
    NotifyCourseChange();
}

Vector
FactoryAlleyMobilityModel::DoGetPosition() const
{
    NS_ABORT_MSG_IF(!m_manager, "FactoryAlleyMobilityModel is not attached to a manager");
    const Vector2D p = m_manager->GetPosition2d(m_robot);
    return Vector(p.x, p.y, m_height);
}

void
FactoryAlleyMobilityModel::DoSetPosition(const Vector& position)
{
    NS_ABORT_MSG_IF(!m_manager, "FactoryAlleyMobilityModel is not attached to a manager");
    m_manager->MoveRobotTo(m_robot, position);
}

int64_t
FactoryAlleyMobilityModel::DoAssignStreams(int64_t stream)
{
    // All robots of a hall share the manager's one random variable: the first robot's model
    // assigns it, so MobilityHelper::AssignStreams(nodes, stream) works as for other models.
    return m_manager && m_robot == 0 ? m_manager->AssignStreams(stream) : 0;
}

Vector
FactoryAlleyMobilityModel::DoGetVelocity() const
{
    NS_ABORT_MSG_IF(!m_manager, "FactoryAlleyMobilityModel is not attached to a manager");
    const Vector2D h = m_manager->GetHeading(m_robot);
    const double v = m_manager->GetActualSpeed(m_robot);
    return Vector(h.x * v, h.y * v, 0.0);
}

} // namespace ns3
