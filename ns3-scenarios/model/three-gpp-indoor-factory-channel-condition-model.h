/*
 * fedmarl-ns3: spatially consistent LOS/NLOS condition of the 3GPP TR 38.901 Indoor Factory.
 * SPDX-License-Identifier: GPL-2.0-only
 */

#ifndef THREE_GPP_INDOOR_FACTORY_CHANNEL_CONDITION_MODEL_H
#define THREE_GPP_INDOOR_FACTORY_CHANNEL_CONDITION_MODEL_H

#include "inf-channel.h"
#include "spatial-field.h"

#include "ns3/channel-condition-model.h"
#include "ns3/random-variable-stream.h"

#include <optional>
#include <string>

namespace ns3
{

class MobilityModel;

/**
 * @ingroup propagation
 * @brief LOS/NLOS condition of the 3GPP TR 38.901 Indoor Factory (InF) scenarios, drawn in a
 *        spatially consistent way.
 *
 * The LOS probability is Table 7.4.2-1's P_LOS(d_2D) = exp(-d_2D / k_subsce) (SL, DL, SH, DH;
 * always LOS for HH), with the clutter density r, clutter size d_clutter and clutter height h_c
 * of Table 7.2-4 and the antenna heights taken from the nodes' z coordinates (the higher end is
 * the BS, the lower the UT).
 *
 * The draw is not an independent coin per call: a link is LOS iff
 * Z_los(a, b) < Phi^-1(P_LOS(d_2D)), where Z_los is the unit-variance link value of a
 * fedmarl::SpatialField with correlation distance LosCorrelationDistance (d_clutter / 2 by
 * default, TR 38.901 Table 7.6.3.1-2). Phi(Z_los) is uniform per link, so the LOS frequency is
 * P_LOS; and because the field is fixed for a realisation, a link's state is a function of the
 * positions: it stays put while the nodes stand still, changes smoothly as they move, and nearby
 * links share it. This is the numpy twin's rule (pybridge/scenarios/inx_factory/twin.py).
 *
 * Why not derive from ThreeGppChannelConditionModel: its draw is an independent uniform per link
 * refreshed by an UpdatePeriod cache, and its O2I attributes do not apply indoors; the field makes
 * a cache unnecessary. The model reports I2I (indoor to indoor) as the O2I condition.
 *
 * The realisation is drawn on first use (after AssignStreams), and again by NewRealisation();
 * SetLosField installs a given one (e.g. the twin's, for the cross-check).
 */
class ThreeGppIndoorFactoryChannelConditionModel : public ChannelConditionModel
{
  public:
    /**
     * @brief Get the type ID.
     * @return the object TypeId
     */
    static TypeId GetTypeId();

    ThreeGppIndoorFactoryChannelConditionModel();
    ~ThreeGppIndoorFactoryChannelConditionModel() override;

    // Delete copy constructor and assignment operator to avoid misuse
    ThreeGppIndoorFactoryChannelConditionModel(const ThreeGppIndoorFactoryChannelConditionModel&) =
        delete;
    ThreeGppIndoorFactoryChannelConditionModel& operator=(
        const ThreeGppIndoorFactoryChannelConditionModel&) = delete;

    /**
     * The LOS/NLOS (and I2I) condition of the link between a and b; reciprocal.
     * @param a mobility model of one end
     * @param b mobility model of the other end
     * @return the channel condition
     */
    Ptr<ChannelCondition> GetChannelCondition(Ptr<const MobilityModel> a,
                                              Ptr<const MobilityModel> b) const override;

    /**
     * Assign fixed stream numbers to the field's random variables and discard the current
     * realisation, so the next use draws it from the assigned streams.
     * @param stream first stream index to use
     * @return the number of streams used (2)
     */
    int64_t AssignStreams(int64_t stream) override;

    /**
     * The LOS probability of Table 7.4.2-1 for the link between a and b.
     * @param a mobility model of one end
     * @param b mobility model of the other end
     * @return P_LOS in [0, 1]
     */
    double ComputePlos(Ptr<const MobilityModel> a, Ptr<const MobilityModel> b) const;

    /**
     * @param a mobility model of one end
     * @param b mobility model of the other end
     * @return the unit-variance LOS link value Z_los(a, b); the link is LOS iff it is below
     *         Phi^-1(ComputePlos(a, b))
     */
    double GetLosLinkValue(Ptr<const MobilityModel> a, Ptr<const MobilityModel> b) const;

    /// Draw a new realisation of the LOS field from the model's random streams.
    void NewRealisation();

    /**
     * Use a given realisation of the LOS field (kept until NewRealisation or AssignStreams).
     * @param field the field; its correlation distance is used as is
     */
    void SetLosField(const fedmarl::SpatialField& field);

    /// @return the LOS field in use (drawn now if there is none yet)
    const fedmarl::SpatialField& GetLosField() const;

    /**
     * @param scenario SL, DL, SH, DH, HH or a clutter name (sparse, dense, sparse-high,
     *        dense-high, high-high)
     */
    void SetScenario(const std::string& scenario);
    /// @return the scenario as its two-letter name
    std::string GetScenario() const;
    /// @return the scenario
    fedmarl::InfScenario GetInfScenario() const;

    /// @return the clutter density r in use (the attribute, or its calibration default)
    double GetClutterDensity() const;
    /// @return the clutter size d_clutter in use, m
    double GetClutterSize() const;
    /// @return the effective clutter height h_c in use, m
    double GetClutterHeight() const;
    /// @return the LOS correlation distance in use, m
    double GetLosCorrelationDistance() const;

  protected:
    void DoDispose() override;

  private:
    fedmarl::InfScenario m_scenario{fedmarl::InfScenario::SL}; //!< the InF sub-scenario
    double m_clutterDensity{0.0};      //!< attribute: r, 0 = calibration default
    double m_clutterSize{0.0};         //!< attribute: d_clutter in m, 0 = calibration default
    double m_clutterHeight{0.0};       //!< attribute: h_c in m, 0 = calibration default
    double m_losCorrelationDistance{0.0}; //!< attribute: m, 0 = d_clutter / 2
    uint32_t m_fieldTerms{fedmarl::SpatialField::kDefaultTerms}; //!< attribute: J
    Ptr<NormalRandomVariable> m_normal;   //!< draws the field's wave vectors
    Ptr<UniformRandomVariable> m_uniform; //!< draws the field's phases
    mutable std::optional<fedmarl::SpatialField> m_field; //!< current realisation
    bool m_fieldGiven{false}; //!< true when the realisation came from SetLosField
};

} // namespace ns3

#endif // THREE_GPP_INDOOR_FACTORY_CHANNEL_CONDITION_MODEL_H
