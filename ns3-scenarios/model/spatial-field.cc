/*
 * fedmarl-ns3: spatially correlated Gaussian-like field (sum of random cosines).
 * SPDX-License-Identifier: GPL-2.0-only
 */

#include "spatial-field.h"

#include "ns3/random-variable-stream.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <string>
#include <utility>

namespace ns3
{
namespace fedmarl
{

SpatialField::SpatialField(double corrDistance,
                           std::vector<double> kx,
                           std::vector<double> ky,
                           std::vector<double> phases)
    : m_corrDistance(corrDistance),
      m_kx(std::move(kx)),
      m_ky(std::move(ky)),
      m_phases(std::move(phases)),
      m_scale(0.0)
{
    if (!(corrDistance > 0.0))
    {
        throw std::invalid_argument("SpatialField: correlation distance must be > 0 m, got " +
                                    std::to_string(corrDistance));
    }
    if (m_kx.empty() || m_kx.size() != m_ky.size() || m_kx.size() != m_phases.size())
    {
        throw std::invalid_argument(
            "SpatialField: kx, ky and phases must be non-empty and of equal length, got " +
            std::to_string(m_kx.size()) + ", " + std::to_string(m_ky.size()) + ", " +
            std::to_string(m_phases.size()));
    }
    m_scale = std::sqrt(2.0 / static_cast<double>(m_kx.size()));
}

SpatialField
SpatialField::Draw(double corrDistance,
                   Ptr<NormalRandomVariable> normal,
                   Ptr<UniformRandomVariable> uniform,
                   uint32_t nTerms)
{
    if (!normal || !uniform)
    {
        throw std::invalid_argument("SpatialField::Draw: null random variable");
    }
    if (nTerms == 0)
    {
        throw std::invalid_argument("SpatialField::Draw: nTerms must be > 0");
    }
    if (!(corrDistance > 0.0))
    {
        throw std::invalid_argument("SpatialField::Draw: correlation distance must be > 0 m");
    }
    std::vector<double> kx(nTerms);
    std::vector<double> ky(nTerms);
    std::vector<double> phases(nTerms);
    for (uint32_t j = 0; j < nTerms; ++j)
    {
        // Bivariate Cauchy: a Gaussian direction-and-size z scaled by 1 / (d_c |n|). Redrawing
        // the rare very large wave numbers (rejection) is what the twin does, so the two fields
        // share one distribution.
        double x;
        double y;
        do
        {
            const double zx = normal->GetValue(0.0, 1.0);
            const double zy = normal->GetValue(0.0, 1.0);
            const double n = std::max(std::abs(normal->GetValue(0.0, 1.0)), 1e-300);
            x = zx / (corrDistance * n);
            y = zy / (corrDistance * n);
        } while (std::hypot(x, y) > kMaxWavenumber);
        kx[j] = x;
        ky[j] = y;
    }
    for (uint32_t j = 0; j < nTerms; ++j)
    {
        phases[j] = uniform->GetValue(0.0, 2.0 * std::numbers::pi);
    }
    return SpatialField(corrDistance, std::move(kx), std::move(ky), std::move(phases));
}

double
SpatialField::Value(double x, double y) const
{
    double sum = 0.0;
    const size_t n = m_kx.size();
    for (size_t j = 0; j < n; ++j)
    {
        sum += std::cos(m_kx[j] * x + m_ky[j] * y + m_phases[j]);
    }
    return sum * m_scale;
}

double
SpatialField::CombineLink(double sa, double sb, double distance) const
{
    // Var(S(a) + S(b)) = 2 (1 + rho_ab): dividing by its root keeps every link at unit variance
    // whatever its length, so a link's LOS draw and shadowing have the tabulated statistics.
    const double rho = std::exp(-distance / m_corrDistance);
    return (sa + sb) / std::sqrt(2.0 * (1.0 + rho));
}

double
SpatialField::LinkValue(double ax, double ay, double bx, double by) const
{
    return CombineLink(Value(ax, ay), Value(bx, by), std::hypot(ax - bx, ay - by));
}

double
SpatialField::CachedValue(const void* key, double x, double y) const
{
    auto [it, inserted] = m_cache.try_emplace(key, CacheEntry{x, y, 0.0});
    CacheEntry& e = it->second;
    if (inserted || e.x != x || e.y != y)
    {
        e = CacheEntry{x, y, Value(x, y)};
    }
    return e.s;
}

double
SpatialField::CachedLinkValue(const void* keyA,
                              double ax,
                              double ay,
                              const void* keyB,
                              double bx,
                              double by) const
{
    return CombineLink(CachedValue(keyA, ax, ay),
                       CachedValue(keyB, bx, by),
                       std::hypot(ax - bx, ay - by));
}

double
SpatialField::GetCorrelationDistance() const
{
    return m_corrDistance;
}

uint32_t
SpatialField::GetNTerms() const
{
    return static_cast<uint32_t>(m_kx.size());
}

const std::vector<double>&
SpatialField::GetKx() const
{
    return m_kx;
}

const std::vector<double>&
SpatialField::GetKy() const
{
    return m_ky;
}

const std::vector<double>&
SpatialField::GetPhases() const
{
    return m_phases;
}

} // namespace fedmarl
} // namespace ns3
