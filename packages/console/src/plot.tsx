// A live chart of one property's recent history (issue 16 §1), drawn by uPlot: small, fast, canvas-based.
import { useEffect, useRef } from 'preact/hooks';
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';

export interface PlotProps {
  title: string;
  unit?: string;
  /** [ms, value] pairs, oldest first */
  points: Array<[number, number]>;
}

export function Plot({ title, unit, points }: PlotProps) {
  const host = useRef<HTMLDivElement>(null);
  const chart = useRef<uPlot | null>(null);
  const data = (): uPlot.AlignedData => [points.map((p) => p[0] / 1000), points.map((p) => p[1])];

  useEffect(() => {
    if (!host.current) return;
    chart.current = new uPlot(
      {
        width: 560,
        height: 180,
        series: [
          {},
          { label: unit ? `${title} (${unit})` : title, stroke: '#1f6fb2', width: 2, points: { show: true } },
        ],
        axes: [{}, { size: 56 }],
        legend: { show: true },
      },
      data(),
      host.current,
    );
    return () => {
      chart.current?.destroy();
      chart.current = null;
    };
  }, [title, unit]);

  useEffect(() => {
    chart.current?.setData(data());
  }, [points]);

  return (
    <figure class="plot" aria-label={`${title}: last hour`} data-points={points.length}>
      <figcaption>
        {title}
        {unit ? ` (${unit})` : ''}: {points.length} point{points.length === 1 ? '' : 's'}, latest{' '}
        {points.length ? points[points.length - 1]![1] : '–'}
      </figcaption>
      <div ref={host} />
    </figure>
  );
}
