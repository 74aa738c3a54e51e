/*
 * SPDX-License-Identifier: GPL-2.0-only
 *
 * Alley geometry and directed lane graph of the in-X factory hall (C++ port of
 * pybridge/twin/mobility.py: build_layout, placement_slots, lane_capacity).
 *
 * The floating-point expressions below deliberately follow the Python model's evaluation order
 * (numpy evaluates element-wise, left to right, without fused multiply-adds): the layouts agree
 * bit for bit, so cross-checked trajectories take the same decisions at every boundary.
 */

#include "factory-alley-layout.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <sstream>
#include <stdexcept>
#include <utility>

namespace ns3::fedmarl
{

namespace
{

/// An undirected alley segment between two node indices.
using Edge = std::pair<uint32_t, uint32_t>;

/// Euclidean length as numpy's norm along an axis computes it: sqrt(x*x + y*y).
double
Norm(double x, double y)
{
    return std::sqrt(x * x + y * y);
}

/// The nodes of the alley graph and its undirected segments, in the Python model's order.
struct AlleyGraph
{
    std::vector<Vector2D> nodes; //!< crossings and dead ends, in order of first appearance
    std::vector<Edge> edges;     //!< consecutive nodes along each alley
};

/**
 * Nodes (crossings, dead ends `margin` from the wall) and undirected segments: each alley is a
 * chain from one wall to the other through every crossing alley.
 */
AlleyGraph
BuildAlleyGraph(const std::vector<double>& xs,
                const std::vector<double>& ys,
                double length,
                double width,
                double margin)
{
    AlleyGraph graph;
    // Crossings are reached once per alley; the key identifies them up to 1e-9 m like the
    // Python model's round(x, 9).
    std::map<std::pair<long long, long long>, uint32_t> index;
    auto node = [&](double x, double y) {
        const auto key = std::make_pair(std::llround(x * 1e9), std::llround(y * 1e9));
        auto it = index.find(key);
        if (it != index.end())
        {
            return it->second;
        }
        const auto id = static_cast<uint32_t>(graph.nodes.size());
        index.emplace(key, id);
        graph.nodes.emplace_back(x, y);
        return id;
    };
    auto chain = [&](const std::vector<Vector2D>& points) {
        std::vector<uint32_t> ids;
        ids.reserve(points.size());
        for (const auto& p : points)
        {
            ids.push_back(node(p.x, p.y));
        }
        for (std::size_t k = 1; k < ids.size(); ++k)
        {
            graph.edges.emplace_back(ids[k - 1], ids[k]);
        }
    };
    for (double y : ys)
    {
        std::vector<Vector2D> points{Vector2D(margin, y)};
        for (double x : xs)
        {
            points.emplace_back(x, y);
        }
        points.emplace_back(length - margin, y);
        chain(points);
    }
    for (double x : xs)
    {
        std::vector<Vector2D> points{Vector2D(x, margin)};
        for (double y : ys)
        {
            points.emplace_back(x, y);
        }
        points.emplace_back(x, width - margin);
        chain(points);
    }
    return graph;
}

/**
 * Append the lane pieces (one per directed segment P -> Q, w right of the centreline and w
 * short of P and Q) and then the connectors (one per incoming lane and allowed exit) to the
 * layout, with the successor lists.
 */
void
BuildLaneGraph(FactoryAlleyLayout& lay, const std::vector<Edge>& edges, double w)
{
    std::vector<Edge> segs(edges);
    for (const auto& [a, b] : edges)
    {
        segs.emplace_back(b, a);
    }
    lay.nodeDegree.assign(lay.nodes.size(), 0);
    for (const auto& [a, b] : edges)
    {
        ++lay.nodeDegree[a];
        ++lay.nodeDegree[b];
    }

    auto addPiece = [&lay](const Vector2D& start,
                           const Vector2D& end,
                           const Vector2D& dir,
                           PieceKind kind,
                           uint32_t node,
                           uint32_t approach) {
        lay.pieceStart.push_back(start);
        lay.pieceEnd.push_back(end);
        lay.pieceLength.push_back(Norm(end.x - start.x, end.y - start.y));
        lay.pieceDir.push_back(dir);
        lay.pieceKind.push_back(kind);
        lay.pieceNode.push_back(node);
        lay.pieceApproach.push_back(approach);
    };

    for (uint32_t s = 0; s < segs.size(); ++s)
    {
        const auto& p = lay.nodes[segs[s].first];
        const auto& q = lay.nodes[segs[s].second];
        const double size = Norm(q.x - p.x, q.y - p.y);
        const Vector2D u((q.x - p.x) / size, (q.y - p.y) / size);
        const Vector2D n(u.y, -u.x); // right normal of the direction of travel
        const Vector2D start(p.x + n.x * w + u.x * w, p.y + n.y * w + u.y * w);
        const Vector2D end(q.x + n.x * w - u.x * w, q.y + n.y * w - u.y * w);
        addPiece(start, end, u, PieceKind::LANE, segs[s].second, s);
    }

    std::vector<std::vector<uint32_t>> outgoing(lay.nodes.size());
    for (uint32_t s = 0; s < segs.size(); ++s)
    {
        outgoing[segs[s].first].push_back(s);
    }
    lay.successors.assign(segs.size(), {});
    for (uint32_t s = 0; s < segs.size(); ++s)
    {
        const auto [a, q] = segs[s];
        for (uint32_t t : outgoing[q])
        {
            if (segs[t].second == a && lay.nodeDegree[q] > 1)
            {
                continue; // U-turns only at dead ends
            }
            const Vector2D start = lay.pieceEnd[s];
            const Vector2D end = lay.pieceStart[t];
            const double size = Norm(end.x - start.x, end.y - start.y);
            // A right turn is zero-length: it takes the exit's direction.
            const Vector2D dir = size > 1e-12
                                     ? Vector2D((end.x - start.x) / size, (end.y - start.y) / size)
                                     : lay.pieceDir[t];
            lay.successors[s].push_back(lay.GetNPieces());
            lay.successors.push_back({t});
            addPiece(start, end, dir, PieceKind::CONNECTOR, q, s);
        }
    }
}

} // namespace

double
FactoryAlleyLayout::GetCentrelineLength() const
{
    double total = 0.0;
    for (const auto& [a, b] : centrelines)
    {
        total += std::hypot(b.x - a.x, b.y - a.y);
    }
    return total;
}

FactoryAlleyLayout
BuildFactoryAlleyLayout(uint32_t tilesX,
                        uint32_t tilesY,
                        double tileLength,
                        double tileWidth,
                        double alleyWidth)
{
    if (tilesX < 1 || tilesY < 1)
    {
        std::ostringstream msg;
        msg << "tilesX and tilesY must be integers >= 1, got " << tilesX << ", " << tilesY;
        throw std::invalid_argument(msg.str());
    }
    if (!(0.0 < 2.0 * alleyWidth &&
          2.0 * alleyWidth < std::min(tileLength / 3.0, tileWidth / 2.0)))
    {
        std::ostringstream msg;
        msg << "alleyWidth=" << alleyWidth << " does not fit a " << tileLength << " m x "
            << tileWidth << " m tile";
        throw std::invalid_argument(msg.str());
    }
    FactoryAlleyLayout lay;
    lay.tilesX = tilesX;
    lay.tilesY = tilesY;
    lay.hallLength = tileLength * tilesX;
    lay.hallWidth = tileWidth * tilesY;
    lay.alleyWidth = alleyWidth;
    lay.laneOffset = alleyWidth / 4.0;

    // Two vertical alleys per tile at 1/3 and 2/3 of its length, one horizontal at half width.
    std::vector<double> xs;
    std::vector<double> ys;
    for (uint32_t t = 0; t < tilesX; ++t)
    {
        xs.push_back(tileLength * t + tileLength * (1.0 / 3.0));
        xs.push_back(tileLength * t + tileLength * (2.0 / 3.0));
    }
    for (uint32_t t = 0; t < tilesY; ++t)
    {
        ys.push_back(tileWidth * (t + 0.5));
    }
    for (double y : ys)
    {
        lay.centrelines.emplace_back(Vector2D(0.0, y), Vector2D(lay.hallLength, y));
    }
    for (double x : xs)
    {
        lay.centrelines.emplace_back(Vector2D(x, 0.0), Vector2D(x, lay.hallWidth));
    }

    auto graph = BuildAlleyGraph(xs, ys, lay.hallLength, lay.hallWidth, alleyWidth / 2.0);
    lay.nodes = std::move(graph.nodes);
    BuildLaneGraph(lay, graph.edges, lay.laneOffset);
    return lay;
}

std::vector<PlacementSlot>
PlacementSlots(const FactoryAlleyLayout& layout, double dMin)
{
    const double w = layout.laneOffset;
    const double radius = std::max(NODE_EXCLUSION, std::hypot(w + StopDistance(dMin), w) + 1e-6);
    const double spacing = 2.0 * dMin;
    std::vector<PlacementSlot> slots;
    for (uint32_t p = 0; p < layout.GetNPieces(); ++p)
    {
        if (layout.pieceKind[p] != PieceKind::LANE)
        {
            continue;
        }
        const auto count = static_cast<int64_t>(std::floor(layout.pieceLength[p] / spacing)) + 1;
        for (int64_t k = 0; k < count; ++k)
        {
            const double offset = static_cast<double>(k) * spacing;
            const Vector2D pos = layout.PointOnPiece(p, offset);
            double nearest = INFINITY;
            for (const auto& node : layout.nodes)
            {
                nearest = std::min(nearest, Norm(pos.x - node.x, pos.y - node.y));
            }
            if (nearest >= radius)
            {
                slots.push_back({p, offset});
            }
        }
    }
    return slots;
}

uint32_t
LaneCapacity(const FactoryAlleyLayout& layout, double dMin)
{
    return static_cast<uint32_t>(PlacementSlots(layout, dMin).size());
}

} // namespace ns3::fedmarl
