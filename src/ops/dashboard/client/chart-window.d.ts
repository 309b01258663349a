/** Types of chart-window.js (a browser ES module, served as is with no build step). */
export declare function xWindow(
  times: ArrayLike<number | null | undefined>,
  min: number | null | undefined,
  max: number | null | undefined,
  spanSeconds: number,
  nowSeconds: number,
): [number, number];
