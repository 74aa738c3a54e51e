/*
 * SPDX-License-Identifier: GPL-2.0-only
 *
 * Robots driving along the alleys of the in-X factory hall (C++ port of the AlleyMobility class
 * of pybridge/twin/mobility.py, one hall instead of B copies).
 */

#ifndef FEDMARL_FACTORY_ALLEY_MOBILITY_H
#define FEDMARL_FACTORY_ALLEY_MOBILITY_H

#include "factory-alley-layout.h"

#include "ns3/event-id.h"
#include "ns3/mobility-model.h"
#include "ns3/node-container.h"
#include "ns3/nstime.h"
#include "ns3/object.h"
#include "ns3/ptr.h"
#include "ns3/random-variable-stream.h"

#include <functional>
#include <memory>
#include <vector>

namespace ns3
{

class FactoryAlleyMobilityModel;

/**
 * @ingroup mobility
 * Owns the state of all robots of one factory hall and moves them together.
 *
 * Robots interact (they keep a minimum separation, give way and share intersections), so they
 * cannot be stepped one MobilityModel at a time: this manager holds every robot's state (the
 * lane-graph piece it is on and the distance along it) and advances all of them in Step(), every
 * UpdateInterval of simulated time. Each installed node gets a FactoryAlleyMobilityModel that
 * reads its robot's state from here.
 *
 * Traffic rules per step of dt (see pybridge/twin/mobility.py, the reference model):
 * 0. Intersection token: only one approach lane at a time may be inside a node (on its
 *    connectors or past its stop line, StopDistance(dMin) before the intersection box). The
 *    arriving robot nearest to a free node (ties: longest wait, then index) opens it for its
 *    approach; that approach's robots may follow until a robot of another approach has waited
 *    PATIENCE seconds at its stop line. Everyone else advances at most to the stop line.
 * 1. Every robot proposes its (possibly clamped) full advance, drawing a uniformly random exit
 *    at every piece end it crosses.
 * 2. Robot i stops if a robot j ahead of it ((p_j - p_i) . heading_i > 0) is closer than dMin at
 *    the proposed positions, unless i is also ahead of j and has priority (smaller distance to
 *    its next node, ties by smaller index).
 * 3. While any pair with a mover is closer than dMin (stopped robots where they are, movers at
 *    their proposals), stop its mover (of two movers, the one without priority).
 * A step with more than SUBSTEP_FRACTION * dMin of travel is split into equal sub-steps.
 *
 * Placement and exit choices come from one UniformRandomVariable (see AssignStreams), or from
 * an externally supplied uniform source (SetUniformSource): the draws are taken in the Python
 * model's order, so both produce identical trajectories from identical uniforms.
 *
 * Geometry attributes (TilesX, TilesY, TileLength, TileWidth, AlleyWidth) and MinSeparation are
 * read when the layout is first needed (Install or GetLayout) and fixed afterwards.
 */
class FactoryAlleyMobilityManager : public Object
{
  public:
    /// Source of uniform draws in [0, 1), replacing the manager's random stream.
    using UniformSource = std::function<double()>;

    /**
     * Register this type.
     * @return the object TypeId
     */
    static TypeId GetTypeId();

    FactoryAlleyMobilityManager();
    ~FactoryAlleyMobilityManager() override;

    /**
     * Give every node a FactoryAlleyMobilityModel (robot i is nodes.Get(i)), place the robots on
     * distinct random placement slots and start the periodic Step() (unless UpdateInterval is
     * zero). Can be called once.
     * @param nodes the robots
     * @throws std::invalid_argument if the robots do not fit (LaneCapacity) or the separation
     *         does not fit the lanes
     */
    void Install(NodeContainer nodes);

    /**
     * Install with a given placement instead of a random one (no uniforms are drawn).
     * @param nodes the robots
     * @param placement one (piece, offset) per node; the caller is responsible for separation
     */
    void Install(NodeContainer nodes, const std::vector<fedmarl::PlacementSlot>& placement);

    /// Put the robots on distinct random placement slots (uniform, without replacement).
    void Reset();

    /**
     * Put the robots at hand-built states (the caller is responsible for their separation).
     * @param placement one (piece, offset) per robot
     * @throws std::invalid_argument for a wrong size, piece or offset
     */
    void Place(const std::vector<fedmarl::PlacementSlot>& placement);

    /**
     * Advance every robot by up to Speed * dt under the traffic rules. Called automatically
     * every UpdateInterval; may also be called directly.
     * @param dt the time step (s), >= 0
     * @return the distance each robot travelled along its path in this step (m)
     */
    const std::vector<double>& Step(double dt);

    /**
     * Take uniforms for placements and exit choices from `source` instead of the manager's
     * random variable (for cross-checks); an empty function restores the random variable.
     * @param source the uniform source, values in [0, 1)
     */
    void SetUniformSource(UniformSource source);

    /**
     * Assign a fixed random variable stream number to the random variable used by this model.
     * @param stream first stream index to use
     * @return the number of stream indices assigned (1)
     */
    int64_t AssignStreams(int64_t stream);

    /// @return the hall and its lane graph (built from the attributes on first use)
    const fedmarl::FactoryAlleyLayout& GetLayout() const;
    /// @return the number of installed robots
    uint32_t GetNRobots() const;
    /// @return how many robots the placement can hold with the current attributes
    uint32_t GetLaneCapacity() const;
    /// @return how far before an intersection box a robot without the token waits (m)
    double GetStopDistance() const;

    /**
     * @param robot robot index
     * @return the piece the robot is on
     */
    uint32_t GetPiece(uint32_t robot) const;
    /**
     * @param robot robot index
     * @return the distance along its piece (m)
     */
    double GetOffset(uint32_t robot) const;
    /**
     * @param robot robot index
     * @return the robot's position in the hall plane (m)
     */
    Vector2D GetPosition2d(uint32_t robot) const;
    /**
     * @param robot robot index
     * @return the unit direction of the robot's piece
     */
    Vector2D GetHeading(uint32_t robot) const;
    /**
     * @param robot robot index
     * @return distance travelled in the last step divided by its duration (m/s)
     */
    double GetActualSpeed(uint32_t robot) const;
    /**
     * @param robot robot index
     * @return distance the robot travelled along its path in the last step (m)
     */
    double GetLastStepDistance(uint32_t robot) const;
    /**
     * @param robot robot index
     * @return distance along the travel direction to the next node (m); 0 on a connector
     */
    double GetDistToNode(uint32_t robot) const;
    /**
     * @param robot robot index
     * @return the mobility model of the robot's node
     */
    Ptr<FactoryAlleyMobilityModel> GetModel(uint32_t robot) const;

    /**
     * Move a robot to the lane point nearest to `position` (used by the models' SetPosition).
     * @param robot robot index
     * @param position target position; z is ignored
     */
    void MoveRobotTo(uint32_t robot, const Vector& position);

  protected:
    void DoDispose() override;

  private:
    /// Build the layout and slots from the attributes if not done yet.
    void EnsureLayout() const;
    /// Validate the attributes against the layout and the number of robots.
    void CheckConfiguration(uint32_t nRobots) const;
    /// Create and attach the models, then schedule the first periodic step.
    void AttachModels(NodeContainer nodes);
    /// The periodic Step() driven by the simulator.
    void PeriodicStep();
    /// @return the next uniform draw in [0, 1)
    double NextUniform();
    /// Recompute positions and headings from (piece, offset).
    void UpdateDerived();
    /// Tell every model whose position changed.
    void NotifyChanged(const std::vector<Vector2D>& before) const;

    /**
     * One sub-step of at most `advance` metres per robot; adds the distances moved to m_moved.
     * @param advance the full advance of the sub-step (m)
     * @param dt the sub-step's duration (s)
     */
    void Substep(double advance, double dt);
    /**
     * Rule 0: the advance each robot may make under the intersection tokens.
     * @param advance the full advance (m)
     */
    void TokenLimits(double advance);
    /// Move the proposed states forward by m_want along the graph, drawing exits at piece ends.
    void AdvanceProposals();
    /**
     * Candidate pairs (i < j) closer than `radius`: all pairs for few robots, otherwise the
     * pairs found through a uniform grid of `radius`-sized cells.
     * @param radius search radius (m)
     */
    void CandidatePairs(double radius);
    /**
     * Rules 2 and 3: which robots must stop this sub-step (fills m_stopped).
     * @param advance the full advance of the sub-step (m)
     */
    void Resolve(double advance);

    // Attributes
    uint32_t m_tilesX;       //!< tiles along x
    uint32_t m_tilesY;       //!< tiles along y
    double m_tileLength;     //!< x extent of one tile (m)
    double m_tileWidth;      //!< y extent of one tile (m)
    double m_alleyWidth;     //!< alley width (m)
    double m_speed;          //!< robot speed (m/s)
    double m_dMin;           //!< minimum centre-to-centre separation (m)
    Time m_updateInterval;   //!< simulated time between periodic steps

    /// Layout and slots, built on first use (attributes are only known after construction).
    mutable std::unique_ptr<const fedmarl::FactoryAlleyLayout> m_layout;
    mutable std::vector<fedmarl::PlacementSlot> m_slots; //!< placement slots of the layout

    Ptr<UniformRandomVariable> m_uniform; //!< placement and exit choices
    UniformSource m_source;               //!< external uniforms, when set
    EventId m_event;                      //!< the next periodic step
    std::vector<Ptr<FactoryAlleyMobilityModel>> m_models; //!< one per robot

    // Robot state, one entry per robot.
    std::vector<uint32_t> m_piece;     //!< current piece
    std::vector<double> m_offset;      //!< distance along the piece (m)
    std::vector<Vector2D> m_position;  //!< derived from (piece, offset)
    std::vector<double> m_waited;      //!< time since the robot last moved (s)
    std::vector<double> m_actualSpeed; //!< of the last step (m/s)
    std::vector<double> m_stepMoved;   //!< distance travelled in the last Step (m)

    // Scratch space of a sub-step, kept to avoid reallocations.
    std::vector<double> m_key;           //!< distance to the next node (priority)
    std::vector<double> m_want;          //!< allowed advance (m)
    std::vector<uint32_t> m_newPiece;    //!< proposed piece
    std::vector<double> m_newOffset;     //!< proposed offset (m)
    std::vector<Vector2D> m_newPosition; //!< proposed position
    std::vector<uint8_t> m_stopped;      //!< robot stays where it is this sub-step
    std::vector<std::pair<uint32_t, uint32_t>> m_pairs;    //!< candidate pairs, i < j
    std::vector<std::pair<uint64_t, uint32_t>> m_cellSort; //!< (grid cell, robot), sorted
    double m_cellRadius{0.0};            //!< cell size m_cellSort was sorted for (m)
    std::vector<int64_t> m_held;         //!< approach inside each node, -1 if free
};

/**
 * @ingroup mobility
 * Position and velocity of one robot of a FactoryAlleyMobilityManager.
 *
 * The position changes only when the manager steps (every UpdateInterval): it is the robot's
 * position after the last step, at the height given by the Height attribute; the velocity is
 * the direction of the robot's lane piece times the speed it actually achieved in that step.
 * SetPosition moves the robot to the nearest point of a lane (no separation check).
 * AssignStreams on the model of robot 0 assigns the manager's stream (the random variable all
 * robots of the hall share); the random placement is drawn at Install, so assign streams to
 * the manager before Install for a reproducible placement.
 */
class FactoryAlleyMobilityModel : public MobilityModel
{
  public:
    /**
     * Register this type.
     * @return the object TypeId
     */
    static TypeId GetTypeId();

    FactoryAlleyMobilityModel();
    ~FactoryAlleyMobilityModel() override;

    /// @return the index of this robot in its manager
    uint32_t GetRobotIndex() const;
    /// @return the manager that moves this robot
    Ptr<FactoryAlleyMobilityManager> GetManager() const;

  protected:
    void DoDispose() override;

  private:
    friend class FactoryAlleyMobilityManager;

    /**
     * Bind this model to a robot of a manager.
     * @param manager the manager
     * @param robot the robot index
     */
    void Attach(Ptr<FactoryAlleyMobilityManager> manager, uint32_t robot);
    /// Fire the CourseChange trace (the manager moved this robot).
    void NotifyMoved() const;

    Vector DoGetPosition() const override;
    void DoSetPosition(const Vector& position) override;
    Vector DoGetVelocity() const override;
    int64_t DoAssignStreams(int64_t stream) override;

    Ptr<FactoryAlleyMobilityManager> m_manager; //!< owner of the robot's state
    uint32_t m_robot;                           //!< robot index in the manager
    double m_height;                            //!< z of the reported position (m)
};

} // namespace ns3

#endif // FEDMARL_FACTORY_ALLEY_MOBILITY_H
