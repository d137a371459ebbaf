// Once a page has loaded: how many of its images loaded and how many did not, on <body> as
// data-images-loaded / data-images-broken (the docs test reads them in a headless browser).
window.addEventListener("load", function () {
  var images = Array.prototype.slice.call(document.images);
  var loaded = images.filter(function (img) { return img.complete && img.naturalWidth > 0; }).length;
  document.body.dataset.imagesLoaded = String(loaded);
  document.body.dataset.imagesBroken = String(images.length - loaded);
});
