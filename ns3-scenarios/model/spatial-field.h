/*
 * fedmarl-ns3: spatially correlated Gaussian-like field (sum of random cosines).
 * SPDX-License-Identifier: GPL-2.0-only
 */

#ifndef FEDMARL_SPATIAL_FIELD_H
#define FEDMARL_SPATIAL_FIELD_H

#include "ns3/ptr.h"

#include <cstdint>
#include <numbers>
#include <unordered_map>
#include <vector>

namespace ns3
{

class NormalRandomVariable;
class UniformRandomVariable;

namespace fedmarl
{

/**
 * @ingroup fedmarl
 * A zero-mean, unit-variance random field over the plane with exponential correlation
 * exp(-|x - y| / d_c), the C++ twin of pybridge/channel/fields.py's ExponentialField.
 *
 * S(x) = sqrt(2 / J) sum_j cos(k_j . x + phi_j), with phi_j ~ U[0, 2 pi) and wave vectors k_j
 * drawn from the field's 2-D spectral density, the bivariate Cauchy law
 * k = z / (d_c |n|), z ~ N(0, I_2), n ~ N(0, 1). Then E[S(x) S(y)] = E[cos(k . (x - y))] =
 * exp(-|x - y| / d_c) for any J. Wave numbers above 2 pi / 0.05 rad/m (features finer than 5 cm)
 * are redrawn, exactly as the twin does.
 *
 * Why this form: it is continuous in space (spatially consistent as nodes move), needs no grid,
 * costs O(J) per point, and a realisation is just (k_j, phi_j), so the twin's exact realisation
 * can be handed over and reproduced here (the cross-check does this).
 *
 * A link between points a and b gets the value Z(a, b) = (S(a) + S(b)) / sqrt(2 (1 + rho_ab)),
 * rho_ab = exp(-|a - b| / d_c): symmetric (reciprocal), unit variance for every link length,
 * continuous in both ends. The field is two-dimensional: callers pass horizontal coordinates,
 * and |a - b| is the 2-D distance, as in the twin.
 */
class SpatialField
{
  public:
    /// Default number of cosine terms J (the twin's DEFAULT_TERMS).
    static constexpr uint32_t kDefaultTerms = 128;
    /// Wave numbers above this are redrawn, rad/m (the twin's MAX_WAVENUMBER).
    static constexpr double kMaxWavenumber = 2.0 * std::numbers::pi / 0.05;

    /**
     * A field from a given realisation, e.g. one of the twin's ExponentialField realisations
     * (wavevectors[b, :, 0], wavevectors[b, :, 1], phases[b, 0, :]).
     * @param corrDistance the correlation distance d_c, m (> 0)
     * @param kx the x components of the J wave vectors, rad/m
     * @param ky the y components of the J wave vectors, rad/m
     * @param phases the J phases, rad
     */
    SpatialField(double corrDistance,
                 std::vector<double> kx,
                 std::vector<double> ky,
                 std::vector<double> phases);

    /**
     * Draw a new realisation with the twin's distribution.
     * @param corrDistance the correlation distance d_c, m (> 0)
     * @param normal a standard normal variable (mean 0, variance 1) for the wave vectors
     * @param uniform a uniform variable on [0, 1) for the phases (scaled here to [0, 2 pi))
     * @param nTerms the number of cosine terms J (> 0)
     * @return the field
     */
    static SpatialField Draw(double corrDistance,
                             Ptr<NormalRandomVariable> normal,
                             Ptr<UniformRandomVariable> uniform,
                             uint32_t nTerms = kDefaultTerms);

    /**
     * @param x the x coordinate, m
     * @param y the y coordinate, m
     * @return the field value S(x, y) (unit variance over realisations)
     */
    double Value(double x, double y) const;

    /**
     * The unit-variance link value Z(a, b) = (S(a) + S(b)) / sqrt(2 (1 + exp(-|a - b| / d_c))).
     * @param ax the x coordinate of end a, m
     * @param ay the y coordinate of end a, m
     * @param bx the x coordinate of end b, m
     * @param by the y coordinate of end b, m
     * @return Z(a, b)
     */
    double LinkValue(double ax, double ay, double bx, double by) const;

    /**
     * Combine field values already evaluated at the two ends of a link (for callers that cache
     * per-node values, as the twin does).
     * @param sa S(a)
     * @param sb S(b)
     * @param distance |a - b|, m
     * @return Z(a, b)
     */
    double CombineLink(double sa, double sb, double distance) const;

    /**
     * Value(x, y) memoised per key (e.g. a node's mobility model) while the keyed point stays
     * at (x, y). A link query costs 2 J cosines; with N transmitters and D receivers a refresh
     * of all links would cost 2 J N D of them, but only J (N + D) with the memo. The memo is
     * always right: an entry is reused only for the very same coordinates.
     * @param key any pointer identifying the point
     * @param x the x coordinate, m
     * @param y the y coordinate, m
     * @return S(x, y)
     */
    double CachedValue(const void* key, double x, double y) const;

    /**
     * LinkValue with both ends memoised (see CachedValue).
     * @param keyA the key of end a
     * @param ax the x coordinate of end a, m
     * @param ay the y coordinate of end a, m
     * @param keyB the key of end b
     * @param bx the x coordinate of end b, m
     * @param by the y coordinate of end b, m
     * @return Z(a, b)
     */
    double CachedLinkValue(const void* keyA,
                           double ax,
                           double ay,
                           const void* keyB,
                           double bx,
                           double by) const;

    /// @return the correlation distance d_c, m
    double GetCorrelationDistance() const;
    /// @return the number of cosine terms J
    uint32_t GetNTerms() const;
    /// @return the wave vectors' x components, rad/m
    const std::vector<double>& GetKx() const;
    /// @return the wave vectors' y components, rad/m
    const std::vector<double>& GetKy() const;
    /// @return the phases, rad
    const std::vector<double>& GetPhases() const;

  private:
    /// A memoised field value and where it was evaluated.
    struct CacheEntry
    {
        double x; //!< x coordinate, m
        double y; //!< y coordinate, m
        double s; //!< S(x, y)
    };

    double m_corrDistance;        //!< d_c, m
    std::vector<double> m_kx;     //!< wave vectors, x components, rad/m
    std::vector<double> m_ky;     //!< wave vectors, y components, rad/m
    std::vector<double> m_phases; //!< phases, rad
    double m_scale;               //!< sqrt(2 / J), which makes the variance 1
    mutable std::unordered_map<const void*, CacheEntry> m_cache; //!< CachedValue's memo
};

} // namespace fedmarl
} // namespace ns3

#endif // FEDMARL_SPATIAL_FIELD_H
