/*
 * SPDX-License-Identifier: GPL-2.0-only
 *
 * Alley geometry and directed lane graph of the in-X factory hall (C++ port of
 * pybridge/twin/mobility.py: build_layout, placement_slots, lane_capacity).
 */

#ifndef FEDMARL_FACTORY_ALLEY_LAYOUT_H
#define FEDMARL_FACTORY_ALLEY_LAYOUT_H

#include "ns3/vector.h"

#include <cstdint>
#include <vector>

namespace ns3::fedmarl
{

/**
 * @ingroup mobility
 * Kind of a piece of the lane graph; the values equal the Python model's LANE / CONNECTOR.
 */
enum class PieceKind : uint8_t
{
    LANE = 0,     //!< one lane of a directed alley segment between two nodes
    CONNECTOR = 1 //!< a path through a node from an incoming lane to an outgoing one
};

/// Reset slots keep at least this distance (m) to every node: nobody starts inside an
/// intersection or at a stop line.
constexpr double NODE_EXCLUSION = 3.0;
/// Waiting robots stop this many d_min before the intersection box (5 % float headroom).
constexpr double STOP_MARGIN = 1.05;
/// One internal sub-step advances a robot at most this many d_min (no tunnelling through others).
constexpr double SUBSTEP_FRACTION = 0.5;
/// A robot waiting this long (s) at a stop line ends the platoon crossing in front of it.
constexpr double PATIENCE = 5.0;
/// Piece boundaries one robot may cross in one sub-step (a lane, a zero-length connector, ...).
constexpr uint32_t MAX_HOPS = 32;
/// Float tolerance of the geometric tests (m), as in the Python model.
constexpr double GEOMETRY_TOLERANCE = 1e-9;

/**
 * @ingroup mobility
 * The alleys of a factory hall of tilesX x tilesY tiles and their directed lane graph.
 *
 * One tile is tileLength x tileWidth (180 m x 80 m) with a horizontal alley centreline at half
 * the width and vertical ones at one and two thirds of the length. Alleys continue across tile
 * borders; where one meets the outer wall its node (a dead end) sits alleyWidth / 2 from the
 * wall. Traffic is right-handed: each lane centre lies laneOffset = alleyWidth / 4 to the right
 * of the centreline.
 *
 * The graph is made of straight pieces, lanes first (one per directed alley segment, stopping
 * laneOffset short of each node), then connectors (one per incoming lane and allowed exit of a
 * node, straight from the lane's end to the exit lane's start; U-turns only at dead ends).
 * Indices, coordinates and ordering are those of the Python FactoryLayout, so piece and node
 * indices can be exchanged with it.
 */
struct FactoryAlleyLayout
{
    double hallLength{0.0}; //!< x extent of the whole hall (m)
    double hallWidth{0.0};  //!< y extent of the whole hall (m)
    double alleyWidth{0.0}; //!< alley width (m)
    double laneOffset{0.0}; //!< lane centre to alley centreline (m)
    uint32_t tilesX{0};     //!< tiles along x
    uint32_t tilesY{0};     //!< tiles along y

    /// Wall-to-wall alley centrelines as (start, end) pairs: horizontal ones first.
    std::vector<std::pair<Vector2D, Vector2D>> centrelines;
    std::vector<Vector2D> nodes;      //!< intersections and dead ends
    std::vector<uint32_t> nodeDegree; //!< alley segments meeting at each node (1: dead end)

    std::vector<Vector2D> pieceStart;   //!< start point of each piece
    std::vector<Vector2D> pieceEnd;     //!< end point of each piece
    std::vector<double> pieceLength;    //!< length of each piece (m)
    std::vector<Vector2D> pieceDir;     //!< unit direction (the exit's for zero-length pieces)
    std::vector<PieceKind> pieceKind;   //!< lane or connector
    std::vector<uint32_t> pieceNode;    //!< node a lane leads to / a connector belongs to
    std::vector<uint32_t> pieceApproach; //!< the incoming lane piece (itself for a lane)
    /// Pieces a robot may enter at the end of each piece (lane: 1 or 3 connectors; connector:
    /// its exit lane), in the Python model's order so that a uniform u picks the same one.
    std::vector<std::vector<uint32_t>> successors;

    /// @return the number of pieces (lanes and connectors)
    uint32_t GetNPieces() const
    {
        return static_cast<uint32_t>(pieceLength.size());
    }

    /// @return the number of nodes (crossings and dead ends)
    uint32_t GetNNodes() const
    {
        return static_cast<uint32_t>(nodes.size());
    }

    /// @return the total alley centreline length (m), crossings counted once per alley
    double GetCentrelineLength() const;

    /**
     * Position at a distance along a piece.
     * @param piece the piece index
     * @param offset the distance from the piece's start (m)
     * @return the point pieceStart + pieceDir * offset
     */
    Vector2D PointOnPiece(uint32_t piece, double offset) const
    {
        // Component-wise in this order, as numpy evaluates it (bit-identical trajectories).
        return Vector2D(pieceStart[piece].x + pieceDir[piece].x * offset,
                        pieceStart[piece].y + pieceDir[piece].y * offset);
    }
};

/**
 * @ingroup mobility
 * Build the hall of tilesX x tilesY tiles and its lane graph.
 *
 * @param tilesX tiles along x (>= 1)
 * @param tilesY tiles along y (>= 1)
 * @param tileLength x extent of one tile (m)
 * @param tileWidth y extent of one tile (m)
 * @param alleyWidth alley width (m); two alley widths must fit in a third of the length and
 *        in half the width of a tile
 * @return the layout
 * @throws std::invalid_argument for zero tiles or an alley width that does not fit
 */
FactoryAlleyLayout BuildFactoryAlleyLayout(uint32_t tilesX,
                                           uint32_t tilesY,
                                           double tileLength = 180.0,
                                           double tileWidth = 80.0,
                                           double alleyWidth = 5.0);

/**
 * @ingroup mobility
 * A candidate start state of a robot: a lane piece and the distance along it.
 */
struct PlacementSlot
{
    uint32_t piece{0};  //!< lane piece index
    double offset{0.0}; //!< distance from the piece's start (m)
};

/**
 * @ingroup mobility
 * How far before the intersection box a robot without the token waits.
 * @param dMin the minimum centre-to-centre separation (m)
 * @return STOP_MARGIN * dMin (m)
 */
inline double
StopDistance(double dMin)
{
    return STOP_MARGIN * dMin;
}

/**
 * @ingroup mobility
 * Candidate start positions: every 2 dMin along each lane piece, keeping those at least
 * max(NODE_EXCLUSION, the stop line's distance) from every node. Any two slots are >= dMin
 * apart as long as dMin <= 2 laneOffset (the spacing of opposite lanes).
 *
 * @param layout the hall
 * @param dMin the minimum centre-to-centre separation (m)
 * @return the slots, by lane piece and then offset (the Python order)
 */
std::vector<PlacementSlot> PlacementSlots(const FactoryAlleyLayout& layout, double dMin);

/**
 * @ingroup mobility
 * How many robots the initial placement can hold.
 * @param layout the hall
 * @param dMin the minimum centre-to-centre separation (m)
 * @return the number of placement slots
 */
uint32_t LaneCapacity(const FactoryAlleyLayout& layout, double dMin);

} // namespace ns3::fedmarl

#endif // FEDMARL_FACTORY_ALLEY_LAYOUT_H
