# The light demo FCN inside a UDASegmentor with no adaptation method and no
# DA-KPN; configs inheriting this add them (model.methods,
# model.translation) and set the segmentor's data_preprocessor size.
_base_ = ['../../encoders/fcn_tiny_96x160.py']
model = dict(
    _delete_=True,
    type='UDASegmentor',
    segmentor={{_base_.model}},
    methods=[],
    translation=None,
    target_translation=None,
    seed=0)
