/*
 * fedmarl-ns3: 3GPP TR 38.901 Indoor Factory (InF) path loss with spatially correlated shadowing.
 * SPDX-License-Identifier: GPL-2.0-only
 */

#ifndef THREE_GPP_INDOOR_FACTORY_PROPAGATION_LOSS_MODEL_H
#define THREE_GPP_INDOOR_FACTORY_PROPAGATION_LOSS_MODEL_H

#include "inf-channel.h"
#include "spatial-field.h"

#include "ns3/channel-condition-model.h"
#include "ns3/propagation-loss-model.h"
#include "ns3/random-variable-stream.h"

#include <optional>
#include <string>
#include <vector>

namespace ns3
{

class MobilityModel;

/**
 * @ingroup propagation
 * @brief Path loss and shadowing of the 3GPP TR 38.901 Indoor Factory (InF) scenarios.
 *
 * Received power = txPowerDbm - PL - X, where
 * - PL is Table 7.4.1-1's InF path loss for the link's LOS state, taken from the
 *   ChannelConditionModel (by default a ThreeGppIndoorFactoryChannelConditionModel of the same
 *   Scenario, created on first use): InF-LOS, or the scenario's NLOS formula with the max()
 *   rules; d_3D is the nodes' 3-D distance clamped to [1, 600] m, fc is Frequency;
 * - X = sigma(LOS state) Z_sh(a, b) is the shadow fading: sigma is the table's shadow-fading std
 *   (4.3 dB LOS; 5.7/7.2/5.9/4.0 dB NLOS for SL/DL/SH/DH) and Z_sh the unit-variance link value
 *   of a fedmarl::SpatialField with exponential correlation over ShadowCorrelationDistance
 *   (10 m): shadowing is spatially consistent, reciprocal, and correlated between links that
 *   share a nearby end, as in the numpy twin (pybridge/scenarios/inx_factory/twin.py).
 *
 * There is no 38.901 InF model in ns-3 (up to 3.48); this follows the structure of ns-3's
 * ThreeGppPropagationLossModel family, but not its shadowing, whose per-link state decorrelates
 * with displacement independently per link and cannot reproduce the twin's field. The shadow field
 * is drawn on first use (after AssignStreams), again by NewRealisation(), or given by
 * SetShadowField (e.g. the twin's realisation).
 */
class ThreeGppIndoorFactoryPropagationLossModel : public PropagationLossModel
{
  public:
    /**
     * @brief Get the type ID.
     * @return the object TypeId
     */
    static TypeId GetTypeId();

    ThreeGppIndoorFactoryPropagationLossModel();
    ~ThreeGppIndoorFactoryPropagationLossModel() override;

    // Delete copy constructor and assignment operator to avoid misuse
    ThreeGppIndoorFactoryPropagationLossModel(const ThreeGppIndoorFactoryPropagationLossModel&) =
        delete;
    ThreeGppIndoorFactoryPropagationLossModel& operator=(
        const ThreeGppIndoorFactoryPropagationLossModel&) = delete;

    /**
     * @param model the channel condition model that decides the links' LOS states
     */
    void SetChannelConditionModel(Ptr<ChannelConditionModel> model);
    /// @return the channel condition model (the default one is created now if none is set)
    Ptr<ChannelConditionModel> GetChannelConditionModel() const;

    /**
     * @param f the carrier frequency, Hz (> 0)
     */
    void SetFrequency(double f);
    /// @return the carrier frequency, Hz
    double GetFrequency() const;

    /**
     * @param scenario SL, DL, SH, DH, HH or a clutter name (sparse, dense, ...). A default
     *        channel condition model created by this model follows it.
     */
    void SetScenario(const std::string& scenario);
    /// @return the scenario as its two-letter name
    std::string GetScenario() const;
    /// @return the scenario
    fedmarl::InfScenario GetInfScenario() const;

    /**
     * @param a mobility model of one end
     * @param b mobility model of the other end
     * @return the total loss PL + X of the link, dB (X = 0 when ShadowingEnabled is false)
     */
    double GetLoss(Ptr<MobilityModel> a, Ptr<MobilityModel> b) const;

    /**
     * @param a mobility model of one end
     * @param b mobility model of the other end
     * @return the path loss PL of the link in its current LOS state, dB
     */
    double GetPathloss(Ptr<MobilityModel> a, Ptr<MobilityModel> b) const;

    /**
     * @param a mobility model of one end
     * @param b mobility model of the other end
     * @return the shadow fading X = sigma(LOS state) Z_sh(a, b), dB (whether or not
     *         ShadowingEnabled is set)
     */
    double GetShadowing(Ptr<MobilityModel> a, Ptr<MobilityModel> b) const;

    /// Draw a new realisation of the shadow field from the model's random streams.
    void NewRealisation();

    /**
     * Use a given realisation of the shadow field (kept until NewRealisation or AssignStreams).
     * @param field the field; its correlation distance is used as is
     */
    void SetShadowField(const fedmarl::SpatialField& field);

    /// @return the shadow field in use (drawn now if there is none yet)
    const fedmarl::SpatialField& GetShadowField() const;

    /**
     * Received power of every link, the numbers CalcRxPower gives link by link, bit for bit:
     * out[i * tx.size() + j] is the power (dBm) at rx[i] from tx[j] sending txPowerDbm. Each
     * end's field values are computed once and no ChannelCondition object is made per link, so
     * a refresh of 10^6 links (N = 1000 subnetworks) costs its arithmetic only. Falls back to
     * CalcRxPower per link when the condition model is not the InF one or a model is chained.
     * @param txPowerDbm transmit power, dBm
     * @param tx mobility of the transmitters
     * @param rx mobility of the receivers
     * @param out rx.size() x tx.size() values, row-major by receiver
     */
    void CalcRxPowerMatrix(double txPowerDbm,
                           const std::vector<Ptr<MobilityModel>>& tx,
                           const std::vector<Ptr<MobilityModel>>& rx,
                           double* out);

  protected:
    void DoDispose() override;

  private:
    /// What one evaluation of a link gives.
    struct LinkLoss
    {
        bool los;           //!< LOS state from the channel condition model
        double pathlossDb;  //!< PL, dB
        double shadowingDb; //!< X = sigma Z_sh, dB
    };

    /**
     * Evaluate a link: LOS state, path loss and shadowing.
     * @param a mobility model of one end
     * @param b mobility model of the other end
     * @return the link's loss terms
     */
    LinkLoss Evaluate(Ptr<const MobilityModel> a, Ptr<const MobilityModel> b) const;

    /// Create the default channel condition model if none is set.
    void EnsureConditionModel() const;

    double DoCalcRxPower(double txPowerDbm,
                         Ptr<MobilityModel> a,
                         Ptr<MobilityModel> b) const override;

    /**
     * Assign streams to the shadow field's random variables (and to the default channel
     * condition model when this model created it); discards the current realisation.
     * @param stream first stream index to use
     * @return the number of streams used
     */
    int64_t DoAssignStreams(int64_t stream) override;

    double m_frequency{6e9}; //!< carrier frequency, Hz
    fedmarl::InfScenario m_scenario{fedmarl::InfScenario::SL}; //!< InF sub-scenario
    bool m_shadowingEnabled{true};                             //!< apply X or not
    double m_shadowCorrelationDistance{10.0};                  //!< d_c of the shadow field, m
    uint32_t m_fieldTerms{fedmarl::SpatialField::kDefaultTerms}; //!< J of the shadow field
    mutable Ptr<ChannelConditionModel> m_conditionModel; //!< decides the LOS states
    mutable bool m_ownsConditionModel{false}; //!< true when the default one was created here
    Ptr<NormalRandomVariable> m_normal;       //!< draws the field's wave vectors
    Ptr<UniformRandomVariable> m_uniform;     //!< draws the field's phases
    mutable std::optional<fedmarl::SpatialField> m_field; //!< current shadow realisation
    bool m_fieldGiven{false}; //!< true when the realisation came from SetShadowField
};

} // namespace ns3

#endif // THREE_GPP_INDOOR_FACTORY_PROPAGATION_LOSS_MODEL_H
